"""The platform seen from LangChain.

The platform's own model adapters call boto3 directly rather than through langchain-aws: they run in Lambda, where
LangChain's import cost and dependency tree are not worth it. `chat_model` wraps those same adapters in a LangChain
chat model instead of configuring langchain-aws's look-alikes, so that a chain sends exactly the requests the platform
sends (Converse for Bedrock, the TGI payload for SageMaker): langchain-aws words them differently (role labels in a
SageMaker prompt, a "." system block where a prompt has no system text) and knows nothing of the platform's mapping of
a prompt version's parameters (Bedrock's temperature cap, top_k under each model family's name).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForLLMRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, field_validator

from llmops.adapters.aws.bedrock_llm import BedrockConverseLanguageModel, converse_arguments
from llmops.adapters.aws.sagemaker_llm import SageMakerTgiLanguageModel
from llmops.composition import build_language_model, model_problem, model_settings
from llmops.domain.errors import InvalidPrompt
from llmops.domain.models import ScoredChunk, SearchFilters, SearchMode
from llmops.domain.prompts import ModelParameters, PromptVersion
from llmops.domain.retrieval import MAX_TOP_K, Retriever
from llmops.ports import GenerationRequest, LanguageModel
from llmops.settings import LlmProvider, Settings

# BaseRetriever.invoke reads `verbose` itself (it configures the callbacks) and passes it on with the other keyword
# arguments: it is LangChain's, not a search parameter.
_LANGCHAIN_INVOKE_ARGUMENTS = frozenset({"verbose"})


def _checked_top_k(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise ValueError(
            f"{name} is {value!r}: a number of documents from 1 to {MAX_TOP_K}, as the platform's search takes"
        )
    return value


def _metadata(hit: ScoredChunk) -> dict[str, Any]:
    """What POST /search returns for the hit, but the text (the document's page_content), with the key under
    LangChain's name for it, `source`. Taken from the chunk whole, so that a field added to chunks (as tags were)
    reaches LangChain without being listed here."""
    chunk = hit.chunk.model_dump(mode="json", exclude={"text", "source_key"})
    scores = hit.model_dump(mode="json", exclude={"chunk"})
    return {"source": hit.chunk.source_key, **chunk, **scores}


class PlatformRetriever(BaseRetriever):
    """Hybrid (or vector / full-text) retrieval over the platform's index, as LangChain documents.

    `top_k` documents per query (1 to MAX_TOP_K, as POST /search takes); `invoke(query, k=n)` asks for n instead.
    Each document's metadata is what POST /search returns for its chunk (tags, scores, ...), the key as `source`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    top_k: int = 4
    mode: SearchMode | None = None
    filters: SearchFilters | None = None

    @field_validator("top_k")
    @classmethod
    def _top_k_in_range(cls, value: int) -> int:
        return _checked_top_k(value, "top_k")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **unknown: Any
    ) -> list[Document]:
        # LangChain hands every keyword argument of invoke() to this method once its signature takes more than
        # run_manager: refuse what this retriever does not know rather than search as if it had not been asked.
        unexpected = sorted(set(unknown) - _LANGCHAIN_INVOKE_ARGUMENTS)
        if unexpected:
            raise TypeError(
                f"PlatformRetriever takes k (the number of documents) when invoked, not {', '.join(unexpected)}; "
                "mode and filters are set when it is made"
            )
        top_k = self.top_k if k is None else _checked_top_k(k, "k")
        hits = self.retriever.retrieve(query, top_k, mode=self.mode, filters=self.filters)
        return [Document(page_content=hit.chunk.text, metadata=_metadata(hit)) for hit in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # BaseRetriever's own version passes no keyword arguments on, so ainvoke(query, k=2) would fail there.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )


# langchain-core refuses these as input variables of a prompt template ("used internally").
_LANGCHAIN_RESERVED_VARIABLES = frozenset({"stop"})


def prompt_template(version: PromptVersion) -> ChatPromptTemplate:
    """A catalog prompt version as a chat prompt template (system + human), with the version in its metadata.

    Run it with `chat_model(settings, version=version)` so that the version's model parameters apply."""
    reserved = sorted(set(version.variables) & _LANGCHAIN_RESERVED_VARIABLES)
    if reserved:
        raise InvalidPrompt(
            f"{version.prompt_id} declares {', '.join(reserved)}, which LangChain reserves for itself: publish a "
            "version that names the variable otherwise to use it as a LangChain prompt template"
        )
    template = ChatPromptTemplate.from_messages([("system", version.system_template), ("human", version.user_template)])
    template.metadata = {"prompt_name": version.name, "prompt_version": version.version, "prompt_id": version.prompt_id}
    return template


class _PlatformChatModel(BaseChatModel):
    """A system text and a user text, sent through one of the platform's model adapters as the answering service
    sends a rendered prompt version."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any  # a llmops.ports.LanguageModel, a Protocol that pydantic cannot check
    max_new_tokens: int
    temperature: float
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: tuple[str, ...] = ()

    @property
    def _llm_type(self) -> str:
        return "llmops-platform"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_id": self.llm.model_id,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop": list(self.stop_sequences),
        }

    def request(self, system: str, user: str, stop: list[str] | None = None) -> GenerationRequest:
        """The request the platform's adapter is given; stop sequences passed at invoke time join the version's."""
        return GenerationRequest(
            system=system,
            user=user,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            stop=tuple(dict.fromkeys([*self.stop_sequences, *(stop or [])])),
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if kwargs:
            raise TypeError(
                f"the platform's models take only stop sequences when invoked, not {', '.join(sorted(kwargs))}; "
                "the other parameters come from the prompt version or the settings"
            )
        generation = self.llm.generate(self.request(*_system_and_user(messages), stop))
        usage = generation.usage
        message = AIMessage(
            content=generation.text,
            usage_metadata=UsageMetadata(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
            ),
            response_metadata={"model_id": self.llm.model_id},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _system_and_user(messages: list[BaseMessage]) -> tuple[str, str]:
    """The platform's models take one system text and one user text, what a rendered prompt version is."""
    texts = [message.content for message in messages if isinstance(message.content, str)]
    shapes = ([HumanMessage], [SystemMessage, HumanMessage])
    if len(texts) != len(messages) or [type(message) for message in messages] not in shapes:
        raise ValueError(
            "the platform's models take an optional system message and one human message, both text (what "
            f"prompt_template makes), not {[message.type for message in messages]}"
        )
    return ("" if len(texts) == 1 else texts[0]), texts[-1]


def chat_model(settings: Settings, client: Any = None, *, version: PromptVersion | None = None) -> BaseChatModel:
    """A LangChain chat model that calls the configured Bedrock model or SageMaker endpoint through the platform's
    own adapter, so that it sends the platform's requests.

    With `version`, the version's parameters apply as when the platform answers with it: its model_id picks the
    Bedrock model or SageMaker endpoint, and its temperature, top_p, top_k, max_tokens and stop sequences replace
    LLM_TEMPERATURE and LLM_MAX_NEW_TOKENS. Parameters the model would refuse raise UnsupportedParameters here.
    `client`: a bedrock-runtime or sagemaker-runtime boto3 client; by default one for AWS_REGION.
    ValueError for LLM_PROVIDER=local: the local model has no LangChain counterpart."""
    if settings.llm_provider is LlmProvider.LOCAL:
        raise ValueError("LangChain models exist for LLM_PROVIDER=bedrock or sagemaker, not for the local model")
    parameters = version.parameters if version is not None else ModelParameters()
    target = _target_settings(settings, parameters.model_id)
    model = _PlatformChatModel(
        llm=_language_model(target, client),
        # As the answering service does: a parameter the version leaves out keeps the settings' value.
        max_new_tokens=parameters.max_tokens or settings.llm_max_new_tokens,
        temperature=settings.llm_temperature if parameters.temperature is None else parameters.temperature,
        top_p=parameters.top_p,
        top_k=parameters.top_k,
        stop_sequences=parameters.stop,
    )
    if target.llm_provider is LlmProvider.BEDROCK:
        # The adapter checks each request; checking one now reports a version the model would refuse (a temperature
        # above Bedrock's 1, a top_k its family does not take) when the chain is built, not at its first question.
        converse_arguments(target.bedrock_model_id, model.request("", ""))
    return model


def _target_settings(settings: Settings, model_id: str | None) -> Settings:
    """The settings with the model a prompt version names, checked as the answering service checks it (the same
    composition helpers, so that both read a version's model_id alike)."""
    if not model_id:
        return settings
    problem = model_problem(settings, model_id)
    if problem:
        raise InvalidPrompt(f"the prompt's model_id cannot answer here: {problem}")
    return model_settings(settings, model_id)


def _language_model(settings: Settings, client: Any) -> LanguageModel:
    if client is None:
        return build_language_model(settings)
    if settings.llm_provider is LlmProvider.BEDROCK:
        return BedrockConverseLanguageModel(client, settings.bedrock_model_id)
    return SageMakerTgiLanguageModel(client, settings.llm_endpoint_name)
