"""The platform seen from LangChain.

The platform's own model adapters call boto3 directly rather than through langchain-aws: they run in Lambda, where
LangChain's import cost and dependency tree are not worth it. `chat_model` gives LangChain users a model that sends
the same requests (Converse for Bedrock, the TGI payload for SageMaker) under the same settings.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_aws import ChatBedrockConverse, SagemakerEndpoint
from langchain_aws.llms.sagemaker_endpoint import LLMContentHandler
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseLanguageModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from llmops.adapters.aws.sagemaker_llm import tgi_payload
from llmops.domain.models import SearchFilters, SearchMode
from llmops.domain.prompts import PromptVersion
from llmops.domain.retrieval import Retriever
from llmops.ports import GenerationRequest
from llmops.settings import LlmProvider, Settings


class PlatformRetriever(BaseRetriever):
    """Hybrid (or vector / full-text) retrieval over the platform's index, as LangChain documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    top_k: int = 4
    mode: SearchMode | None = None
    filters: SearchFilters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.retriever.retrieve(query, self.top_k, mode=self.mode, filters=self.filters)
        return [
            Document(
                page_content=hit.chunk.text,
                metadata={
                    "source": hit.chunk.source_key,
                    "document_id": hit.chunk.document_id,
                    "version": hit.chunk.version,
                    "title": hit.chunk.title,
                    "position": hit.chunk.position,
                    "page": hit.chunk.page,
                    "section": hit.chunk.section,
                    "score": hit.score,
                    "text_score": hit.text_score,
                    "fused_score": hit.fused_score,
                },
            )
            for hit in hits
        ]


def prompt_template(version: PromptVersion) -> ChatPromptTemplate:
    """A catalog prompt version as a chat prompt template (system + human), with the version in its metadata."""
    template = ChatPromptTemplate.from_messages([("system", version.system_template), ("human", version.user_template)])
    template.metadata = {"prompt_name": version.name, "prompt_version": version.version, "prompt_id": version.prompt_id}
    return template


class _TgiContentHandler(LLMContentHandler):
    """The same Hugging Face TGI payload the platform's SageMaker adapter sends."""

    content_type = "application/json"
    accepts = "application/json"

    def __init__(self, max_new_tokens: int, temperature: float) -> None:
        self._max_new_tokens = max_new_tokens
        self._temperature = temperature

    def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
        request = GenerationRequest(
            system="",
            user=prompt,
            max_new_tokens=int(model_kwargs.get("max_new_tokens", self._max_new_tokens)),
            temperature=float(model_kwargs.get("temperature", self._temperature)),
        )
        payload = tgi_payload(request)
        payload["inputs"] = prompt  # LangChain has already rendered the whole prompt
        return json.dumps(payload).encode()

    def transform_output(self, output: Any) -> str:
        body = json.loads(output.read())
        first = body[0] if isinstance(body, list) else body
        return str(first.get("generated_text", ""))


def chat_model(settings: Settings, client: Any = None) -> BaseLanguageModel[Any]:
    """A LangChain model for the configured Bedrock model or SageMaker endpoint, with the platform's parameters."""
    if settings.llm_provider is LlmProvider.BEDROCK:
        return ChatBedrockConverse(
            model_id=settings.bedrock_model_id,
            region_name=settings.aws_region,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_new_tokens,
            client=client,
        )
    if settings.llm_provider is LlmProvider.SAGEMAKER:
        return SagemakerEndpoint(
            endpoint_name=settings.llm_endpoint_name,
            region_name=settings.aws_region,
            content_handler=_TgiContentHandler(settings.llm_max_new_tokens, settings.llm_temperature),
            client=client,
        )
    raise ValueError("LangChain models exist for LLM_PROVIDER=bedrock or sagemaker, not for the local model")
