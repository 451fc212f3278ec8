"""LangChain interop: the platform's retriever, prompts and models as LangChain objects."""

from __future__ import annotations

import asyncio
import copy
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

from llmops.adapters.aws.bedrock_llm import BedrockConverseLanguageModel
from llmops.adapters.aws.sagemaker_llm import SageMakerTgiLanguageModel
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.langchain import PlatformRetriever, chat_model, prompt_template
from llmops.domain.chunking import Chunker
from llmops.domain.errors import InvalidPrompt, UnsupportedParameters
from llmops.domain.models import ExtractedDocument, Section
from llmops.domain.prompts import ModelParameters, PromptVersion
from llmops.domain.retrieval import RetrievalSettings, Retriever
from llmops.ports import GenerationRequest
from llmops.settings import Settings
from tests.aws_clients import stubbable_client
from tests.fakes import FakeVectorIndex

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK = Settings(LLM_PROVIDER="bedrock", BEDROCK_MODEL_ID=CLAUDE)
SAGEMAKER = Settings(LLM_PROVIDER="sagemaker", LLM_ENDPOINT_NAME="llm-dev")
# The version the user evaluation measured, with top_p and top_k as well: every parameter a version can set.
TUNED = ModelParameters(temperature=0.5, top_p=0.9, top_k=40, max_tokens=7, stop=("END",))
VARIABLES = {"context": "[1] C", "question": "Q?"}


def _version(system_template: str = "SYS {context}", parameters: ModelParameters = TUNED) -> PromptVersion:
    return PromptVersion(
        name="rag-answer",
        version=4,
        system_template=system_template,
        user_template="{question}" if "{context}" in system_template else "{context}\n\n{question}",
        variables=["context", "question"],
        parameters=parameters,
        author="platform team",
        created_at="2026-11-21T10:00:00+00:00",
        content_hash="h",
    )


def _converse_reply(text: str = "Yes.") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
        "metrics": {"latencyMs": 10},
    }


def _tgi_reply(text: str = "They hold hands.") -> dict[str, Any]:
    body = json.dumps([{"generated_text": text, "details": {"generated_tokens": 4, "prefill": []}}]).encode()
    return {"Body": StreamingBody(io.BytesIO(body), len(body))}


def _sent(service: str, reply: dict[str, Any], call: Callable[[Any], object]) -> dict[str, Any]:
    """The request `call(client)` makes to the service (its API parameters, a SageMaker body decoded), answered
    with `reply` by botocore's Stubber, which also checks the request against the service's model."""
    operation, method = (
        ("Converse", "converse") if service == "bedrock-runtime" else ("InvokeEndpoint", "invoke_endpoint")
    )
    client = stubbable_client(service)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        f"before-parameter-build.{service}.{operation}", lambda params, **_: sent.append(copy.deepcopy(params))
    )
    with Stubber(client) as stub:
        stub.add_response(method, reply)
        call(client)
        stub.assert_no_pending_responses()
    (request,) = sent
    if "Body" in request:
        request["Body"] = json.loads(request["Body"])
    return request


def _platform_request(version: PromptVersion) -> GenerationRequest:
    """What the answering service asks its model for when `version` answers (TUNED's parameters)."""
    rendered = version.render(VARIABLES)
    return GenerationRequest(
        system=rendered.system,
        user=rendered.user,
        max_new_tokens=7,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop=("END",),
    )


# -- models: the same requests as the platform's adapters -------------------------------------------------------------
@pytest.mark.parametrize("system_template", ["SYS {context}", ""], ids=["with-system", "without-system"])
def test_a_version_run_through_langchain_on_sagemaker_sends_the_platform_adapters_request(
    system_template: str,
) -> None:
    version = _version(system_template)

    through_langchain = _sent(
        "sagemaker-runtime",
        _tgi_reply(),
        lambda client: (prompt_template(version) | chat_model(SAGEMAKER, client, version=version)).invoke(VARIABLES),
    )
    by_the_platform = _sent(
        "sagemaker-runtime",
        _tgi_reply(),
        lambda client: SageMakerTgiLanguageModel(client, "llm-dev").generate(_platform_request(version)),
    )

    assert through_langchain == by_the_platform
    # The version's parameters, and the system and user text joined as the platform joins them (no role labels).
    assert through_langchain["Body"]["inputs"] == ("SYS [1] C\n\nQ?" if system_template else "[1] C\n\nQ?")
    assert through_langchain["Body"]["parameters"]["max_new_tokens"] == 7
    assert through_langchain["Body"]["parameters"]["stop"] == ["END"]


@pytest.mark.parametrize("system_template", ["SYS {context}", ""], ids=["with-system", "without-system"])
def test_a_version_run_through_langchain_on_bedrock_sends_the_platform_adapters_request(system_template: str) -> None:
    version = _version(system_template)

    through_langchain = _sent(
        "bedrock-runtime",
        _converse_reply(),
        lambda client: (prompt_template(version) | chat_model(BEDROCK, client, version=version)).invoke(VARIABLES),
    )
    by_the_platform = _sent(
        "bedrock-runtime",
        _converse_reply(),
        lambda client: BedrockConverseLanguageModel(client, CLAUDE).generate(_platform_request(version)),
    )

    assert through_langchain == by_the_platform
    assert through_langchain["inferenceConfig"] == {
        "maxTokens": 7,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    # Converse refuses an empty system block; the platform leaves `system` out rather than send a stand-in.
    assert ("system" in through_langchain) == bool(system_template)


def test_without_a_version_the_model_samples_as_the_settings_say() -> None:
    settings = Settings(LLM_PROVIDER="bedrock", BEDROCK_MODEL_ID=CLAUDE, LLM_MAX_NEW_TOKENS=32, LLM_TEMPERATURE=0.2)
    replies: list[Any] = []

    sent = _sent(
        "bedrock-runtime", _converse_reply(), lambda client: replies.append(chat_model(settings, client).invoke("Hi?"))
    )

    assert sent == {
        "modelId": CLAUDE,
        "messages": [{"role": "user", "content": [{"text": "Hi?"}]}],
        "inferenceConfig": {"maxTokens": 32, "temperature": 0.2},
    }
    assert replies[0].content == "Yes."
    assert replies[0].usage_metadata == {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}


def test_a_version_that_leaves_parameters_out_keeps_the_settings() -> None:
    version = _version(parameters=ModelParameters(top_p=0.5))
    settings = Settings(
        LLM_PROVIDER="sagemaker", LLM_ENDPOINT_NAME="llm-dev", LLM_MAX_NEW_TOKENS=32, LLM_TEMPERATURE=0.2
    )
    replies: list[Any] = []

    sent = _sent(
        "sagemaker-runtime",
        _tgi_reply(),
        lambda client: replies.append(
            (prompt_template(version) | chat_model(settings, client, version=version)).invoke(VARIABLES)
        ),
    )

    assert sent["EndpointName"] == "llm-dev"
    assert sent["Body"]["parameters"] == {
        "max_new_tokens": 32,
        "return_full_text": False,
        "details": True,
        "decoder_input_details": True,
        "do_sample": True,
        "temperature": 0.2,
        "top_p": 0.5,
    }
    assert replies[0].content == "They hold hands."


def test_the_model_a_version_names_is_the_one_called() -> None:
    version = _version(parameters=ModelParameters(model_id="bedrock:anthropic.claude-3-5-haiku-20241022-v1:0"))

    sent = _sent(
        "bedrock-runtime",
        _converse_reply(),
        lambda client: (prompt_template(version) | chat_model(BEDROCK, client, version=version)).invoke(VARIABLES),
    )

    assert sent["modelId"] == "anthropic.claude-3-5-haiku-20241022-v1:0"
    with pytest.raises(InvalidPrompt, match="LLM_PROVIDER is sagemaker"):
        chat_model(SAGEMAKER, stubbable_client("sagemaker-runtime"), version=version)


def test_parameters_bedrock_would_refuse_are_refused_when_the_model_is_made() -> None:
    client = stubbable_client("bedrock-runtime")
    with pytest.raises(UnsupportedParameters, match=r"temperature 1\.5 is above 1"):
        chat_model(BEDROCK, client, version=_version(parameters=ModelParameters(temperature=1.5)))
    llama = Settings(LLM_PROVIDER="bedrock", BEDROCK_MODEL_ID="meta.llama3-8b-instruct-v1:0")
    with pytest.raises(UnsupportedParameters, match="top_k 40 cannot be sent"):
        chat_model(llama, client, version=_version())


def test_stop_sequences_given_at_invoke_time_are_added_to_the_versions() -> None:
    version = _version()

    sent = _sent(
        "bedrock-runtime",
        _converse_reply(),
        lambda client: chat_model(BEDROCK, client, version=version).invoke("Hi?", stop=["Question:", "END"]),
    )

    assert sent["inferenceConfig"]["stopSequences"] == ["END", "Question:"]


def test_messages_the_platform_cannot_send_as_it_sends_them_are_refused() -> None:
    client = stubbable_client("bedrock-runtime")
    model = chat_model(BEDROCK, client)
    conversation = [SystemMessage("S"), HumanMessage("Q1"), AIMessage("A1"), HumanMessage("Q2")]

    with Stubber(client):  # no response queued: a request sent would fail the test
        with pytest.raises(ValueError, match="one human message"):
            model.invoke(conversation)
        with pytest.raises(TypeError, match="temprature"):
            model.invoke("Hi?", temprature=0.3)


def test_there_is_no_langchain_model_for_the_local_one() -> None:
    with pytest.raises(ValueError, match="bedrock or sagemaker"):
        chat_model(Settings(LLM_PROVIDER="local"))


# -- prompts --------------------------------------------------------------------------------------------------------
def test_a_catalog_prompt_version_renders_the_same_through_langchain() -> None:
    version = _version("Use only this context:\n{context}")

    messages = prompt_template(version).format_messages(context="[1] Otters sleep.", question="Do otters sleep?")
    ours = version.render({"context": "[1] Otters sleep.", "question": "Do otters sleep?"})

    assert [m.content for m in messages] == [ours.system, ours.user]
    assert prompt_template(version).metadata == {
        "prompt_name": "rag-answer",
        "prompt_version": 4,
        "prompt_id": "rag-answer@4",
    }


# -- retrieval ------------------------------------------------------------------------------------------------------
@pytest.fixture
def otter_retriever(embedder: OnnxMiniLmEmbedder) -> Retriever:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    texts = {
        "d1": "Otters hold hands while they sleep so they do not drift apart.",
        "d2": "Sea otters use stones as tools to open shellfish.",
        "d3": "Otters have the densest fur of any animal.",
    }
    for document_id, text in texts.items():
        chunks = chunker.chunk(
            ExtractedDocument(title="Otters", sections=[Section(text=text, page=3)]),
            document_id=document_id,
            source_key=f"documents/{document_id}.pdf",
            version="v1",
        )
        index.replace_document(document_id, chunks, embedder.embed([c.text for c in chunks]))
    return Retriever(embedder, index, RetrievalSettings())


def test_the_platform_retriever_answers_langchain_queries_with_source_metadata(otter_retriever: Retriever) -> None:
    retriever = PlatformRetriever(retriever=otter_retriever, top_k=2)

    documents = retriever.invoke("Why do otters hold hands?")

    assert len(documents) == 2
    assert documents[0].page_content == "Otters hold hands while they sleep so they do not drift apart."
    assert documents[0].metadata["source"] == "documents/d1.pdf"
    assert documents[0].metadata["page"] == 3 and documents[0].metadata["score"] > 0.5


def test_given_tagged_chunks_then_each_document_carries_what_post_search_returns_for_its_chunk(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    (chunk,) = chunker.chunk(
        ExtractedDocument(title="Leave", sections=[Section(text="Staff take twenty days of leave.", label="Leave")]),
        document_id="d1",
        source_key="documents/hr/leave.md",
        version="v1",
    )
    tagged = chunk.model_copy(update={"tags": ["hr", "policy"], "revision": "r1"})
    index.replace_document("d1", [tagged], embedder.embed([tagged.text]))
    retriever = Retriever(embedder, index, RetrievalSettings())

    (document,) = PlatformRetriever(retriever=retriever, top_k=1).invoke("How many days of leave?")
    (searched,) = retriever.retrieve("How many days of leave?", 1)

    # What POST /search gives for the same hit: the chunk's fields but its text (page_content) and its key (`source`,
    # LangChain's name for it), and the three scores.
    result = searched.model_dump(mode="json")
    expected = {**result.pop("chunk"), **result}
    expected["source"] = expected.pop("source_key")
    del expected["text"]
    assert document.metadata == expected
    assert document.metadata["tags"] == ["hr", "policy"]
    assert document.page_content == tagged.text


@pytest.mark.parametrize("top_k", [0, -1, 101])
def test_a_top_k_the_search_api_would_refuse_is_refused_when_the_retriever_is_made(
    otter_retriever: Retriever, top_k: int
) -> None:
    with pytest.raises(ValidationError, match=f"top_k is {top_k}: a number of documents from 1 to 100"):
        PlatformRetriever(retriever=otter_retriever, top_k=top_k)


def test_k_given_at_invoke_time_sets_the_number_of_documents(otter_retriever: Retriever) -> None:
    retriever = PlatformRetriever(retriever=otter_retriever, top_k=3)

    assert len(retriever.invoke("otters", k=1)) == 1
    assert len(asyncio.run(retriever.ainvoke("otters", k=2))) == 2
    assert len(retriever.invoke("otters")) == 3
    with pytest.raises(ValueError, match="k is 0: a number of documents from 1 to 100"):
        retriever.invoke("otters", k=0)


def test_unknown_invoke_arguments_are_refused_not_ignored(otter_retriever: Retriever) -> None:
    retriever = PlatformRetriever(retriever=otter_retriever)

    with pytest.raises(TypeError, match="top_n"):
        retriever.invoke("otters", top_n=1)
    # BaseRetriever.invoke reads `verbose` itself (for its callbacks): it is not refused.
    assert len(retriever.invoke("otters", verbose=False)) == 3


def test_a_version_declaring_a_variable_langchain_reserves_is_refused_with_the_platforms_error() -> None:
    version = _version().model_copy(
        update={"system_template": "Say {stop}", "user_template": "now", "variables": ["stop"]}
    )

    with pytest.raises(InvalidPrompt, match="rag-answer@4 declares stop, which LangChain reserves"):
        prompt_template(version)
