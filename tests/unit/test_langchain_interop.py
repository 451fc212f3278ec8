"""LangChain interop: the platform's retriever, prompts and model settings as LangChain objects."""

from __future__ import annotations

import io
import json

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.langchain import PlatformRetriever, chat_model, prompt_template
from llmops.domain.chunking import Chunker
from llmops.domain.models import ExtractedDocument, Section
from llmops.domain.prompts import PromptVersion
from llmops.domain.retrieval import RetrievalSettings, Retriever
from llmops.settings import Settings
from tests.aws_clients import stubbable_client
from tests.fakes import FakeVectorIndex


def test_the_platform_retriever_answers_langchain_queries_with_source_metadata(embedder: OnnxMiniLmEmbedder) -> None:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    text = "Otters hold hands while they sleep so they do not drift apart."
    chunks = chunker.chunk(
        ExtractedDocument(title="Otters", sections=[Section(text=text, page=3)]),
        document_id="d1",
        source_key="documents/otters.pdf",
        version="v1",
    )
    index.replace_document("d1", chunks, embedder.embed([c.text for c in chunks]))
    retriever = PlatformRetriever(retriever=Retriever(embedder, index, RetrievalSettings()), top_k=2)

    documents = retriever.invoke("Why do otters hold hands?")

    assert documents[0].page_content == text
    assert documents[0].metadata["source"] == "documents/otters.pdf"
    assert documents[0].metadata["page"] == 3 and documents[0].metadata["score"] > 0.5


def test_a_catalog_prompt_version_renders_the_same_through_langchain() -> None:
    version = PromptVersion(
        name="rag-answer",
        version=4,
        system_template="Use only this context:\n{context}",
        user_template="{question}",
        variables=["context", "question"],
        author="platform team",
        created_at="2026-11-21T10:00:00+00:00",
        content_hash="h",
    )

    messages = prompt_template(version).format_messages(context="[1] Otters sleep.", question="Do otters sleep?")
    ours = version.render({"context": "[1] Otters sleep.", "question": "Do otters sleep?"})

    assert [m.content for m in messages] == [ours.system, ours.user]
    assert prompt_template(version).metadata == {
        "prompt_name": "rag-answer",
        "prompt_version": 4,
        "prompt_id": "rag-answer@4",
    }


def test_the_bedrock_chat_model_calls_converse_with_the_platform_settings() -> None:
    client = stubbable_client("bedrock-runtime")
    settings = Settings(LLM_PROVIDER="bedrock", BEDROCK_MODEL_ID="anthropic.claude-3-haiku-20240307-v1:0")
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "Yes."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
                "metrics": {"latencyMs": 10},
            },
            {
                "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                "messages": [{"role": "user", "content": [{"text": "Do otters sleep?"}]}],
                "system": [],
                "inferenceConfig": {"maxTokens": 96, "temperature": 0.0},
            },
        )
        reply = chat_model(settings, client=client).invoke("Do otters sleep?")

    assert reply.content == "Yes."


def test_the_sagemaker_model_sends_the_tgi_payload() -> None:
    client = stubbable_client("sagemaker-runtime")
    settings = Settings(LLM_PROVIDER="sagemaker", LLM_ENDPOINT_NAME="llm-dev", LLM_MAX_NEW_TOKENS=32)
    body = json.dumps([{"generated_text": "They hold hands."}]).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"EndpointName": "llm-dev", "Body": ANY, "ContentType": "application/json", "Accept": "application/json"},
        )
        reply = chat_model(settings, client=client).invoke("What do otters do?")

    assert reply == "They hold hands."


def test_there_is_no_langchain_model_for_the_local_one() -> None:
    with pytest.raises(ValueError, match="bedrock or sagemaker"):
        chat_model(Settings(LLM_PROVIDER="local"))
