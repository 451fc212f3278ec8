"""Reindex function: the tasks of the re-index state machine (prepare, index one object, switch, abort)."""

from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, TypeAdapter

from llmops.composition import build_reindex_service
from llmops.domain.reindex import ReindexService
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings, load_settings


class Prepare(BaseModel):
    action: Literal["prepare"]
    target: str


class IndexObject(BaseModel):
    action: Literal["index_object"]
    target: str
    key: str
    size: int | None = None


class Switch(BaseModel):
    action: Literal["switch"]
    target: str


class Abort(BaseModel):
    action: Literal["abort"]
    target: str


Task = Annotated[Prepare | IndexObject | Switch | Abort, Field(discriminator="action")]
task_adapter: TypeAdapter[Task] = TypeAdapter(Task)


@cache
def settings() -> Settings:
    return load_settings()


@cache
def reindex_service() -> ReindexService:
    return build_reindex_service(settings())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = task_adapter.validate_python(event)
    service = reindex_service()
    if isinstance(task, Prepare):
        return {"target": service.prepare(task.target)}
    if isinstance(task, IndexObject):
        chunks = service.index_object(task.target, settings().documents_bucket, task.key, task.size)
        return {"key": task.key, "chunks": chunks}
    if isinstance(task, Switch):
        return service.switch(task.target).model_dump()
    return service.abort(task.target).model_dump()
