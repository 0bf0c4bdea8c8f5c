"""What the estimators return: one module per estimator, and the behaviour they share (``base``).

Results are frozen; their figures are Quantities built when first read from the float records
the pipelines produce (see :mod:`costmodel.results.base`).
"""
