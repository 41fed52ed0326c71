"""Self-contained HTML reports of runs and sweeps: one file, every script, style and image
inlined, readable offline.

    html = report_html([Path("runs/20261121-213027-quickstart")])   # dltrain.report.build
    write_run_report(run_folder)                                      # report.html in the folder

Charts are Vega-Lite specs rendered in the page by the Vega JavaScript that
vl-convert-python ships (dltrain.report.assets); tables sort when a header is clicked.
"""
