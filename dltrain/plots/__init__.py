"""The figures dltrain draws, as PNG bytes (matplotlib's object API and Agg: no display, no
pyplot state). Rendering to bytes lets a worker process draw its run's figures and the
process that owns the run folder write them.

A run folder gets (`run_figures`):
  cost.png              train and validation loss; log axis past two decades; best validation epoch
  accuracy.png          classifiers with enough samples that accuracy is more than a staircase
  confusion_matrix.png  classifiers: colours row-normalised, counts written in
  predictions.png       regression: predicted against actual, r² and MSE
  weights.png           image data: the first layer's weights as images
  errors.png            image data: misclassified samples, true and predicted labels
  boundary.png          data with two varying inputs: the model's regions and the samples
`dltrain compare --plot`: dltrain.plots.compare; a sweep's sweep.png: dltrain.plots.sweep.
"""

from __future__ import annotations

from dltrain.plots.base import png_bytes

MIN_SAMPLES_FOR_ACCURACY = 20  # on n samples accuracy takes n + 1 values: fewer draws a staircase


def run_figures(record) -> dict[str, bytes]:
    """{file name: PNG bytes} of a completed RunRecord."""
    from dltrain.plots import curves, samples

    name = record.meta.get("name", "run")
    figures = {"cost.png": curves.cost_figure(record.history, record.loss, name)}
    sources: dict[str, str] = {}
    views, classes = record.views, record.classes
    sizes = record.meta.get("split_sizes") or {}
    if classes is not None and min(sizes.values(), default=0) >= MIN_SAMPLES_FOR_ACCURACY:
        figures["accuracy.png"] = curves.accuracy_figure(record.history, name)
    if views is not None and classes is not None:
        from dltrain.train.metrics import confusion_matrix
        from dltrain.train.targets import predict_classes

        matrix = confusion_matrix(views.y, predict_classes(views.outputs), len(classes))
        title = f"{name}: {views.split} split"
        figures["confusion_matrix.png"] = samples.confusion_figure(matrix, classes, title)
        sources["confusion_matrix.png"] = samples.confusion_source(matrix, classes, title)  # eval keeps it
    elif views is not None:
        figures["predictions.png"] = samples.predictions_figure(views.y, views.outputs, views.split, name)
    shape = record.meta.get("sample_shape")
    if shape is not None and len(shape) == 2 and "W0" in record.weights:
        figures["weights.png"] = samples.weights_figure(record.weights["W0"], tuple(shape), classes, name)
    if views is not None and views.errors is not None and len(views.errors[0]):
        images, true, predicted = views.errors
        figures["errors.png"] = samples.errors_figure(images, true, predicted, classes, views.split, name)
    if views is not None and views.boundary is not None:
        figures["boundary.png"] = samples.boundary_figure(views.boundary, classes, name)
    return {filename: png_bytes(fig, sources.get(filename)) for filename, fig in figures.items()}


__all__ = ["png_bytes", "run_figures"]
