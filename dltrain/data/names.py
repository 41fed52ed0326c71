"""Names of the datasets dltrain can download, importable without NumPy or pydantic.

The command line shows them in `dltrain datasets fetch --help`, which must stay fast;
`dltrain.data.catalog` maps each to its files and every other registered dataset is
built in.
"""

DOWNLOADABLE: tuple[str, ...] = ("mnist", "sign_digits")
