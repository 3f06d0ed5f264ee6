"""structlog for our own logs and kopf's: JSON in a cluster, readable columns on a terminal.

Every line about an object names it (`object=VMOProfile/vmo`), kopf's too. Routine lines are
logged at debug, so what an admin reads at info is what happened: kopf's "Handler ... succeeded"
for every watch event and every admission, the webhook server's access log (the self-probe's
every few seconds among it), and kopf's "failed permanently" for an admission denial, which is a
correct answer to a user, not an error; the MAC webhook logs denials itself, at info, with the reason.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog


def _is_routine(record: logging.LogRecord) -> bool:
    if record.name == "aiohttp.access":
        return True
    if not record.name.startswith("kopf"):
        return False
    message = record.getMessage()
    return message.endswith(" succeeded.") or (
        message.startswith("Webhook '") and " failed permanently: " in message
    )


class Routine(logging.Filter):
    """Demotes routine records to DEBUG, then lets through only what reaches `level`."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and _is_routine(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def name_the_object(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """kopf's lines carry the object in `k8s_ref`; say it the way our own lines do."""
    ref = getattr(event_dict.get("_record"), "k8s_ref", None)
    if isinstance(ref, dict) and ref.get("name") and "object" not in event_dict:
        parts = (ref.get("kind"), ref.get("namespace"), ref.get("name"))
        event_dict["object"] = "/".join(str(p) for p in parts if p)
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    shared: list[structlog.types.Processor] = [
        name_the_object,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(Routine(logging.getLevelNamesMapping()[level.upper()]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The HTTP client's own debug chatter is not operator news.
    for noisy in ("urllib3", "kubernetes.client.rest", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
