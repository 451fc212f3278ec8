"""The one Logger, Metrics and Tracer of a function. Service name and namespace come from the template's
POWERTOOLS_* variables.

The layer's own modules log through the standard library (`logging.getLogger(__name__)`, so the domain needs no
Powertools); their records go out through this function's Logger, with its level, service name and Lambda context.
"""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

PLATFORM_LOGGER = "llmops"

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def route_platform_logs() -> None:
    """Send the `llmops.*` loggers' records through this function's Logger (again: the last call wins, which is how
    the local runtime hands them to whichever function it is invoking)."""
    logging.getLogger(PLATFORM_LOGGER)  # registered now, so that it is found even before any llmops.* module logs
    copy_config_to_registered_loggers(source_logger=logger, include={PLATFORM_LOGGER})


route_platform_logs()
