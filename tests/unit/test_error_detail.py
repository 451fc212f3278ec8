"""Refusals that the domain or a route makes, not the request model, name the request field in `detail` as
Powertools' own 422s do (`loc`, `msg`, `type`), with the `message` they always had."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.answering import AnsweringPolicy, GuardrailBlocked, PromptChoice, QuestionAnsweringService
from llmops.domain.chunking import Chunker
from llmops.domain.errors import InvalidCursor, UnsupportedParameters
from llmops.domain.evaluation.datasets import DatasetCatalog, DatasetVersion
from llmops.domain.evaluation.errors import InvalidEvaluation
from llmops.domain.evaluation.pricing import PriceTable
from llmops.domain.evaluation.report import build_report
from llmops.domain.evaluation.runs import (
    EvaluationRequest,
    EvaluationRun,
    EvaluationService,
    RunOptions,
    RunStatus,
)
from llmops.domain.guardrails import GuardrailCheck, GuardrailStage, GuardrailVerdict
from llmops.domain.models import ExtractedDocument, Section
from llmops.domain.prompts import PromptCatalog, PromptSpec
from llmops.domain.retrieval import RetrievalSettings, Retriever
from llmops.http_errors import field_error_response
from llmops.ports import Generation, GenerationRequest
from tests.fakes import FakeLanguageModel, FakePromptStore, FakeVectorIndex
from tests.handler_events import api_event, call_handler
from tests.template.handler_modules import load_handler_module

pytestmark = pytest.mark.usefixtures("handler_env")

QUESTION = "Why does Python use indentation for grouping of statements?"


def _located(answer: dict[str, Any]) -> list[tuple[list[str | int], str]]:
    """Each `detail` entry's location and type, after checking that its message is the response's own."""
    assert all(d["msg"] in answer["message"] for d in answer["detail"]), answer
    return [(d["loc"], d["type"]) for d in answer["detail"]]


def test_the_helper_names_each_field_in_detail_and_no_field_without_detail() -> None:
    located = field_error_response(422, ValueError("too long"), ("body", "question")).body
    unlocated = field_error_response(422, ValueError("not configured")).body

    assert located == {
        "message": "too long",
        "detail": [{"loc": ["body", "question"], "msg": "too long", "type": "value_error"}],
    }
    assert unlocated == {"message": "not configured"}


# --- /query ---------------------------------------------------------------------------------------------------------


class _RefusingModel(FakeLanguageModel):
    def generate(self, request: GenerationRequest) -> Generation:
        raise UnsupportedParameters("temperature 1.5 is above 1, the most Bedrock models take")


ANSWER_SPEC = PromptSpec(
    author="tests",
    system_template="Passages:\n{context}",
    user_template="{question}",
    variables=("context", "question"),
)


def _answering(
    embedder: OnnxMiniLmEmbedder,
    catalog: PromptCatalog,
    llm: FakeLanguageModel,
    default_prompt: PromptChoice = PromptChoice(),  # noqa: B008 (frozen)
) -> QuestionAnsweringService:
    index = FakeVectorIndex()
    text = "Python uses indentation for grouping of statements, which keeps programs readable."
    chunks = Chunker(embedder.tokenizer, 250, 0, embedder.model_id).chunk(
        ExtractedDocument(title="FAQ", sections=[Section(text=text)]), document_id="d", source_key="k", version="v"
    )
    index.replace_document("d", chunks, embedder.embed([c.text for c in chunks]))
    policy = AnsweringPolicy(
        top_k=3, min_relevance_score=0.3, min_answer_support=0.7, max_context_tokens=500, max_new_tokens=32,
        temperature=0,
    )  # fmt: skip
    retriever = Retriever(embedder, index, RetrievalSettings())
    return QuestionAnsweringService(embedder, retriever, llm, policy, prompts=catalog, default_prompt=default_prompt)


def _catalog() -> PromptCatalog:
    """An answer prompt (rag-answer) and a prompt that cannot answer (summarize): version 1 of each, aliased `prod`."""
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("rag-answer", ANSWER_SPEC)
    catalog.set_alias("rag-answer", "prod", 1)
    catalog.publish("summarize", PromptSpec(author="tests", user_template="Summarize: {text}", variables=("text",)))
    catalog.set_alias("summarize", "prod", 1)
    return catalog


@pytest.fixture
def query_app(embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module("query")
    service = _answering(embedder, _catalog(), FakeLanguageModel())
    monkeypatch.setattr(module, "answering_service", lambda: service)
    return module


def test_query_names_the_question_when_the_domain_refuses_it(
    query_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The request model takes questions up to MAX_QUESTION_CHARS; the domain checks again (other callers come
    # straight to it): a lower limit there stands for a question that only the domain refuses.
    monkeypatch.setattr("llmops.domain.answering.MAX_QUESTION_CHARS", 10)

    status, answer = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION}))

    assert status == 422
    assert answer["message"] == "the question is longer than 10 characters"
    assert _located(answer) == [(["body", "question"], "value_error")]


@pytest.mark.parametrize(
    ("choice", "message", "located"),
    [
        ({"prompt": "../prompts"}, "prompt name '../prompts' is not a slug", [["body", "prompt"]]),
        ({"prompt_version": "Prod"}, "alias 'Prod' is not a slug", [["body", "prompt_version"]]),
        ({"prompt_version": 0}, "version 0 is out of range", [["body", "prompt_version"]]),
        # The catalog reads the name first, and says only what is wrong with it.
        ({"prompt": "../prompts", "prompt_version": "Prod"}, "prompt name '../prompts'", [["body", "prompt"]]),
        # A readable choice of a version that cannot answer: each field that chose it.
        ({"prompt": "summarize"}, "summarize@1 cannot answer questions", [["body", "prompt"]]),
        (
            {"prompt": "summarize", "prompt_version": "1"},
            "summarize@1 cannot answer questions",
            [["body", "prompt"], ["body", "prompt_version"]],
        ),
    ],
    ids=["name", "alias", "number", "both-unreadable", "cannot-answer", "cannot-answer-at-version"],
)
def test_query_names_the_prompt_field_that_chose_a_prompt_it_cannot_answer_with(
    query_app: ModuleType, choice: dict[str, Any], message: str, located: list[list[str]]
) -> None:
    status, answer = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION, **choice}))

    assert status == 422
    assert message in answer["message"]
    assert _located(answer) == [(loc, "value_error") for loc in located]


def test_query_names_no_field_for_a_reference_the_settings_gave_and_the_field_for_the_one_the_body_gave(
    query_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    misconfigured = query_app.settings().model_copy(update={"answer_prompt_ref": "Bad_Ref"})
    monkeypatch.setattr(query_app, "settings", lambda: misconfigured)

    # The body names the prompt; ANSWER_PROMPT_REF gives the version reference, which cannot be read.
    by_settings_status, by_settings = call_handler(
        query_app, api_event("POST", "/query", {"question": QUESTION, "prompt": "rag-answer"})
    )
    by_body_status, by_body = call_handler(
        query_app,
        api_event("POST", "/query", {"question": QUESTION, "prompt": "rag-answer", "prompt_version": "Bad_Ref"}),
    )

    assert by_body_status == 422
    assert "alias 'Bad_Ref' is not a slug" in by_body["message"]
    assert _located(by_body) == [(["body", "prompt_version"], "value_error")]
    # The body's `prompt` is readable, the deployment's reference is not: nothing in the request can fix that.
    assert by_settings_status == 500
    assert by_settings["message"] == by_body["message"]
    assert "detail" not in by_settings


def test_query_answers_500_naming_the_setting_for_a_configured_prompt_name_the_catalog_cannot_read(
    embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    query_app = load_handler_module("query")
    misconfigured = query_app.settings().model_copy(update={"answer_prompt_name": "Bad_Name"})
    monkeypatch.setattr(query_app, "settings", lambda: misconfigured)
    service = _answering(embedder, _catalog(), FakeLanguageModel(), PromptChoice("Bad_Name", "prod"))
    monkeypatch.setattr(query_app, "answering_service", lambda: service)

    configured_status, configured = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION}))
    # The body gives the version; the name it goes with is still the deployment's.
    versioned_status, versioned = call_handler(
        query_app, api_event("POST", "/query", {"question": QUESTION, "prompt_version": 1})
    )
    chosen_status, chosen = call_handler(
        query_app, api_event("POST", "/query", {"question": QUESTION, "prompt": "rag-answer"})
    )

    assert configured_status == versioned_status == 500
    assert "prompt name 'Bad_Name' is not a slug" in configured["message"]
    assert "correct ANSWER_PROMPT_NAME or ANSWER_PROMPT_REF" in configured["message"]
    assert "prompt name 'Bad_Name' is not a slug" in versioned["message"]
    assert "detail" not in configured and "detail" not in versioned
    assert chosen_status == 200 and chosen["prompt_name"] == "rag-answer"


def test_query_names_the_chosen_prompt_for_parameters_the_model_refuses_and_no_field_when_none_was_chosen(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = _answering(embedder, _catalog(), _RefusingModel())
    monkeypatch.setattr(query_app, "answering_service", lambda: refusing)

    chosen_status, chosen = call_handler(
        query_app, api_event("POST", "/query", {"question": QUESTION, "prompt_version": 1})
    )
    configured_status, configured = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION}))

    assert chosen_status == 422
    assert chosen["message"] == configured["message"] == "temperature 1.5 is above 1, the most Bedrock models take"
    assert _located(chosen) == [(["body", "prompt_version"], "value_error")]
    # The configured prompt's parameters, or the settings': no field of the request to change, the deployment's.
    assert configured_status == 500
    assert "detail" not in configured


def _blocked_at(stage: GuardrailStage) -> type:
    verdict = GuardrailVerdict(
        stage=stage, text="", blocked=True, blocked_by=GuardrailCheck.TOXICITY, message=f"blocked at {stage.value}"
    )

    class _Blocking:
        def answer(self, *_: Any, **__: Any) -> None:
            raise GuardrailBlocked(verdict)

    return _Blocking


def test_query_names_the_question_when_an_input_guardrail_blocks_it_and_no_field_for_a_blocked_answer(
    query_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_app, "answering_service", _blocked_at(GuardrailStage.INPUT))
    input_status, on_input = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION}))
    monkeypatch.setattr(query_app, "answering_service", _blocked_at(GuardrailStage.OUTPUT))
    output_status, on_output = call_handler(query_app, api_event("POST", "/query", {"question": QUESTION}))

    assert input_status == output_status == 400
    assert (on_input["message"], on_input["blocked_by"], on_input["stage"]) == ("blocked at input", "toxicity", "input")
    assert _located(on_input) == [(["body", "question"], "value_error")]
    assert (on_output["message"], on_output["stage"]) == ("blocked at output", "output")
    assert "detail" not in on_output  # the model's answer was stopped, not anything the request sent


# --- /documents -----------------------------------------------------------------------------------------------------


@pytest.fixture
def documents_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module("documents")

    class _Catalog:
        def list(self, **_: Any) -> None:  # as the registry answers a cursor it did not hand out
            raise InvalidCursor("invalid pagination cursor: pass back the next_cursor of a previous page")

    monkeypatch.setattr(module, "catalog", _Catalog)
    return module


def test_documents_names_each_unknown_query_parameter_as_a_model_names_a_field_it_does_not_know(
    documents_app: ModuleType,
) -> None:
    status, answer = call_handler(
        documents_app, api_event("GET", "/documents", query={"stauts": "failed", "limt": "1"})
    )

    assert status == 422
    assert answer["message"] == "unknown query parameters 'limt', 'stauts'; accepted: cursor, limit, prefix, status"
    assert answer["detail"] == [
        {"loc": ["query", name], "msg": "unknown query parameter; accepted: cursor, limit, prefix, status",
         "type": "extra_forbidden"}
        for name in ("limt", "stauts")
    ]  # fmt: skip


def test_documents_names_the_cursor_it_did_not_hand_out(documents_app: ModuleType) -> None:
    status, answer = call_handler(documents_app, api_event("GET", "/documents", query={"cursor": "eyJ4IjoieSJ9"}))

    assert status == 400
    assert answer["message"] == "invalid pagination cursor: pass back the next_cursor of a previous page"
    assert _located(answer) == [(["query", "cursor"], "value_error")]


# --- /datasets, /evaluations ----------------------------------------------------------------------------------------


class _Runs:
    def __init__(self, *runs: EvaluationRun) -> None:
        self.runs = {run.run_id: run for run in runs}

    def put_run(self, run: EvaluationRun) -> None:
        self.runs[run.run_id] = run

    def get_run(self, run_id: str) -> EvaluationRun | None:
        return self.runs.get(run_id)


FAQ = DatasetVersion(
    name="faq", version=1, object_key="datasets/faq.jsonl", row_count=3, sha256="0" * 64,
    created_at="2026-11-22T10:00:00+00:00",
)  # fmt: skip


class _Datasets:
    def get(self, name: str, version: int | None) -> DatasetVersion:
        return FAQ


class _Answerer:
    def check(self, candidate: Any) -> None:
        if candidate.model == "unknown-model":
            raise InvalidEvaluation(f"candidate {candidate.name()}: no such model here")


class _Workflow:
    def start(self, payload: dict[str, object], name: str) -> str:
        return f"arn:aws:states:eu-west-1:123456789012:execution:evaluation:{name}"


def _evaluations(runs: _Runs, workflow: _Workflow | None = None) -> EvaluationService:
    return EvaluationService(
        runs, blobs=None, datasets=_Datasets(), workflow=workflow, answerer=_Answerer(), prompts=_catalog(),  # type: ignore[arg-type]
        judge=None, prices=PriceTable,
    )  # fmt: skip


@pytest.fixture
def evaluation_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """No judge, a workflow, and a run with a report (eval-1)."""
    module = load_handler_module("evaluation")
    request = EvaluationRequest(dataset="faq", candidates=[{"prompt": "rag-answer@1"}])
    report = build_report("eval-1", FAQ.dataset_id, [])
    run = EvaluationRun(
        run_id="eval-1", dataset=FAQ, candidates=request.candidates, options=RunOptions(), item_count=3,
        status=RunStatus.SUCCEEDED, created_at="2026-11-22T10:00:00+00:00", report=report,
    )  # fmt: skip
    service = _evaluations(_Runs(run), _Workflow())
    monkeypatch.setattr(module, "service", lambda: service)
    monkeypatch.setattr(module, "datasets", lambda: DatasetCatalog(None, None))  # type: ignore[arg-type]
    return module


@pytest.mark.parametrize(
    ("upload", "message", "located", "lines"),
    [
        (
            {"name": "Python FAQ", "rows": [{"input": "q"}]},
            "dataset name 'Python FAQ' is not a slug: lowercase letters, digits and hyphens, a letter first, "
            "64 at most",
            ["body", "name"],
            [],
        ),
        ({"name": "faq", "rows": [{"input": ""}, {"question": "q"}]}, "2 invalid row(s)", ["body", "rows"], [1, 2]),
        ({"name": "faq", "jsonl": '{"input": "q"}\nnot JSON\n'}, "1 invalid row(s)", ["body", "jsonl"], [2]),
        ({"name": "faq", "jsonl": "\n"}, "the dataset has no rows", ["body", "jsonl"], []),
        ({"name": "faq", "rows": []}, "the dataset has no rows", ["body", "rows"], []),
    ],
    ids=["name", "rows", "jsonl", "no-lines", "no-rows"],
)
def test_datasets_names_the_field_it_refuses_and_still_lists_the_rows_problems_by_line(
    evaluation_app: ModuleType, upload: dict[str, Any], message: str, located: list[str], lines: list[int]
) -> None:
    status, answer = call_handler(evaluation_app, api_event("POST", "/datasets", upload))

    assert status == 422
    assert answer["message"] == message
    assert _located(answer) == [(located, "value_error")]
    assert [problem["line"] for problem in answer["problems"]] == lines


def test_datasets_names_the_field_that_carried_rows_too_large_to_store(
    evaluation_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmops.domain.evaluation.datasets.MAX_DATASET_BYTES", 10)

    status, answer = call_handler(
        evaluation_app, api_event("POST", "/datasets", {"name": "faq", "jsonl": '{"input": "q"}'})
    )

    assert status == 422
    assert answer["message"] == "the dataset is larger than 0 MiB"
    assert _located(answer) == [(["body", "jsonl"], "value_error")]


NO_JUDGE = {"judge": False}


@pytest.mark.parametrize(
    ("request_", "message", "located"),
    [
        (
            {"candidates": [{"prompt": "rag-answer@1"}, {"prompt": "missing@1"}], "options": NO_JUDGE},
            "candidate missing@1: no prompt named missing",
            ["body", "candidates", 1, "prompt"],
        ),
        (
            {"candidates": [{"prompt": "summarize@1"}], "options": NO_JUDGE},
            "candidate summarize@1: summarize@1 cannot answer questions",
            ["body", "candidates", 0, "prompt"],
        ),
        (
            {"candidates": [{"prompt": "rag-answer@0"}], "options": NO_JUDGE},
            "candidate rag-answer@0: version 0 is out of range",
            ["body", "candidates", 0, "prompt"],
        ),
        (
            {"candidates": [{"prompt": "rag-answer@1", "model": "unknown-model"}], "options": NO_JUDGE},
            "candidate rag-answer@1 unknown-model: no such model here",
            ["body", "candidates", 0, "model"],
        ),
        (
            {"candidates": [{"prompt": "rag-answer@1"}], "options": {**NO_JUDGE, "weights": {"speedd": 1}}},
            "unknown ranking criteria speedd",
            ["body", "options", "weights"],
        ),
        (
            {"candidates": [{"prompt": "rag-answer@1"}], "options": {**NO_JUDGE, "quality_metric": "rouge-l"}},
            "unknown quality metric 'rouge-l'",
            ["body", "options", "quality_metric"],
        ),
        ({"candidates": [{"prompt": "rag-answer@1"}]}, "no judge is configured", ["body", "options", "judge"]),
        (
            {"candidates": [{"prompt": "rag-answer@1"}, {"prompt": "rag-answer@1"}], "options": NO_JUDGE},
            "two candidates are the same",
            ["body", "candidates"],
        ),
        (
            {"dataset": "faq@²", "candidates": [{"prompt": "rag-answer@1"}], "options": NO_JUDGE},
            "dataset reference 'faq@²': the version after @ must be a number",
            ["body", "dataset"],
        ),
    ],
    ids=[
        "missing-prompt", "not-an-answer-prompt", "bad-version", "model", "weights", "quality-metric", "judge",
        "same-candidates", "dataset-ref",
    ],
)  # fmt: skip
def test_evaluations_names_the_field_of_the_run_request_that_cannot_run(
    evaluation_app: ModuleType, request_: dict[str, Any], message: str, located: list[str | int]
) -> None:
    status, answer = call_handler(evaluation_app, api_event("POST", "/evaluations", {"dataset": "faq", **request_}))

    assert status == 422
    assert answer["message"].startswith(message)
    assert _located(answer) == [(located, "value_error")]


def test_evaluations_names_bertscore_where_it_cannot_be_computed(
    evaluation_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmops.domain.evaluation.metrics.bertscore_available", lambda: False)
    request = {"dataset": "faq", "candidates": [{"prompt": "rag-answer@1"}], "options": {**NO_JUDGE, "bertscore": True}}

    status, answer = call_handler(evaluation_app, api_event("POST", "/evaluations", request))

    assert status == 422
    assert answer["message"].startswith("BERTScore needs the bert-score package")
    assert _located(answer) == [(["body", "options", "bertscore"], "value_error")]


def test_evaluations_names_the_whole_body_for_too_much_work_and_answers_no_workflow_as_the_deployments_fault(
    evaluation_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmops.domain.evaluation.runs.MAX_ITEMS_PER_RUN", 5)
    two = {"dataset": "faq", "candidates": [{"prompt": "rag-answer@1", "mode": m} for m in ("vector", "text")],
           "options": NO_JUDGE}  # fmt: skip
    too_much_status, too_much = call_handler(evaluation_app, api_event("POST", "/evaluations", two))
    runs = _Runs()
    monkeypatch.setattr(evaluation_app, "service", lambda: _evaluations(runs, workflow=None))
    one = {**two, "candidates": two["candidates"][:1]}
    unconfigured_status, unconfigured = call_handler(evaluation_app, api_event("POST", "/evaluations", one))

    assert too_much_status == 422
    # The dataset's rows, the limit and the candidates together: the body as a whole, as a model's own check says.
    assert too_much["message"] == "3 rows × 2 candidates is over 5"
    assert _located(too_much) == [(["body"], "value_error")]
    # Nothing in the request can fix a missing workflow: the deployment's fault, a server error, and no run recorded.
    assert unconfigured_status == 500
    assert unconfigured == {"message": "no evaluation workflow is configured (EVALUATION_STATE_MACHINE_ARN)"}
    assert runs.runs == {}


@pytest.mark.parametrize(
    ("query", "message", "located"),
    [
        ({"weights": "cost=cheap"}, "weight 'cost=cheap' is not name=number", ["query", "weights"]),
        ({"weights": "speedd=1"}, "unknown ranking criteria speedd", ["query", "weights"]),
        ({"quality_metric": "rouge-l"}, "unknown quality metric 'rouge-l'", ["query", "quality_metric"]),
        ({"quality_metric": "rouge-l", "format": "html"}, "unknown quality metric", ["query", "quality_metric"]),
    ],
    ids=["weights-syntax", "weights-criteria", "quality-metric", "quality-metric-html"],
)
def test_a_report_names_the_query_parameter_it_cannot_rank_by(
    evaluation_app: ModuleType, query: dict[str, str], message: str, located: list[str]
) -> None:
    status, answer = call_handler(evaluation_app, api_event("GET", "/evaluations/eval-1/report", query=query))

    assert status == 422
    assert answer["message"].startswith(message)
    assert _located(answer) == [(located, "value_error")]
