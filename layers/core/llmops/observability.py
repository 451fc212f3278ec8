"""The one Logger, Metrics and Tracer of a function. Service name and namespace come from the template's
POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
