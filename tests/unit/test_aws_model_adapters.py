"""The SageMaker and Bedrock adapters against botocore's Stubber: the requests they send, the replies they read."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from llmops.adapters.aws.bedrock_llm import BedrockConverseLanguageModel
from llmops.adapters.aws.remote_embedders import BedrockTitanEmbedder, SageMakerEmbedder
from llmops.adapters.aws.sagemaker_llm import SageMakerTgiLanguageModel
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.errors import ModelInvocationError, UnsupportedParameters
from llmops.ports import GenerationRequest
from tests.aws_clients import stubbable_client

REQUEST = GenerationRequest(system="Use the context.", user="Question?", max_new_tokens=64, stop=("</s>",))


def _body(payload: object) -> StreamingBody:
    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_sagemaker_tgi_sends_the_tgi_payload_and_reads_text_and_token_counts() -> None:
    client = stubbable_client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {
                "Body": _body(
                    [{"generated_text": "Answer [1].", "details": {"generated_tokens": 4, "prefill": [1] * 9}}]
                )
            },
            {"EndpointName": "llm-dev", "ContentType": "application/json", "Accept": "application/json", "Body": ANY},
        )
        generation = SageMakerTgiLanguageModel(client, "llm-dev").generate(REQUEST)

    assert generation.text == "Answer [1]."
    assert (generation.usage.input_tokens, generation.usage.output_tokens) == (9, 4)


def test_sagemaker_tgi_payload_is_greedy_at_zero_temperature() -> None:
    from llmops.adapters.aws.sagemaker_llm import tgi_payload

    payload = tgi_payload(REQUEST)

    assert payload["inputs"].startswith("Use the context.")
    assert payload["parameters"] == {
        "max_new_tokens": 64,
        "return_full_text": False,
        "details": True,
        "decoder_input_details": True,
        "do_sample": False,
        "stop": ["</s>"],
    }


def test_a_request_the_tgi_container_refuses_is_an_unsupported_parameters_error_with_its_reason() -> None:
    client = stubbable_client("sagemaker-runtime")
    reason = "Input validation error: `stop` supports up to 4 stop sequences. Given: 5"
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            http_status_code=424,
            modeled_fields={"OriginalStatusCode": 422, "OriginalMessage": reason},
        )
        stub.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424)
        model = SageMakerTgiLanguageModel(client, "llm-dev")
        with pytest.raises(UnsupportedParameters, match="llm-dev refused the request: Input validation error"):
            model.generate(REQUEST)
        with pytest.raises(ModelInvocationError) as failed:  # a container failure stays a model failure (502)
            model.generate(REQUEST)

    assert not isinstance(failed.value, UnsupportedParameters)


def test_bedrock_converse_sends_system_and_user_and_reads_usage() -> None:
    client = stubbable_client("bedrock-runtime")
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "Yes [2]."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 120, "outputTokens": 3, "totalTokens": 123},
                "metrics": {"latencyMs": 300},
            },
            {
                "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                "system": [{"text": "Use the context."}],
                "messages": [{"role": "user", "content": [{"text": "Question?"}]}],
                "inferenceConfig": {"maxTokens": 64, "temperature": 0.0, "stopSequences": ["</s>"]},
            },
        )
        generation = BedrockConverseLanguageModel(client, "anthropic.claude-3-haiku-20240307-v1:0").generate(REQUEST)

    assert generation.text == "Yes [2]."
    assert generation.usage.input_tokens == 120


def test_bedrock_errors_become_model_invocation_errors() -> None:
    client = stubbable_client("bedrock-runtime")
    with Stubber(client) as stub:
        stub.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
        with pytest.raises(ModelInvocationError, match="ThrottlingException"):
            BedrockConverseLanguageModel(client, "m").generate(REQUEST)


def test_sagemaker_embedder_pools_token_vectors_and_normalises(embedder: OnnxMiniLmEmbedder) -> None:
    client = stubbable_client("sagemaker-runtime")
    token_vectors = [[[3.0, 0.0], [1.0, 0.0]], [[0.0, 2.0]]]  # feature extraction: one vector per token
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", {"Body": _body(token_vectors)})
        vectors = SageMakerEmbedder(client, "embed-dev", 2, embedder.tokenizer).embed(["a b", "c"])

    assert np.allclose(vectors, [[1.0, 0.0], [0.0, 1.0]])


def test_bedrock_titan_embedder_embeds_each_text(embedder: OnnxMiniLmEmbedder) -> None:
    client = stubbable_client("bedrock-runtime")
    with Stubber(client) as stub:
        for vector in ([0.6, 0.8], [1.0, 0.0]):
            stub.add_response(
                "invoke_model",
                {"body": _body({"embedding": vector}), "contentType": "application/json"},
                {"modelId": "amazon.titan-embed-text-v2:0", "body": ANY},
            )
        vectors = BedrockTitanEmbedder(client, "amazon.titan-embed-text-v2:0", 2, embedder.tokenizer).embed(["a", "b"])

    assert np.allclose(vectors, [[0.6, 0.8], [1.0, 0.0]])


def test_a_prompt_without_system_text_sends_no_system_block_and_top_p_1_is_left_out() -> None:
    # Converse refuses an empty system text block; TGI refuses top_p 1.0, which is no nucleus cut anyway.
    from llmops.adapters.aws.bedrock_llm import converse_arguments
    from llmops.adapters.aws.sagemaker_llm import tgi_payload

    request = GenerationRequest(system="  ", user="Question?", max_new_tokens=8, top_p=1.0)

    assert "system" not in converse_arguments("m", request)
    assert converse_arguments("m", request)["inferenceConfig"]["topP"] == 1.0
    assert tgi_payload(request)["inputs"] == "Question?"
    assert "top_p" not in tgi_payload(request)["parameters"]


def test_tgi_samples_with_top_p_and_top_k_only_when_the_temperature_asks_for_sampling() -> None:
    # TGI samples whenever top_p < 1 or top_k is set, even with do_sample false: a greedy request must send neither.
    from llmops.adapters.aws.sagemaker_llm import tgi_payload

    greedy = tgi_payload(GenerationRequest(system="s", user="u", max_new_tokens=8, top_p=0.9, top_k=40))["parameters"]
    sampled = tgi_payload(
        GenerationRequest(system="s", user="u", max_new_tokens=8, temperature=0.7, top_p=0.9, top_k=40)
    )["parameters"]

    assert greedy["do_sample"] is False and "top_p" not in greedy and "top_k" not in greedy
    assert (sampled["do_sample"], sampled["temperature"], sampled["top_p"], sampled["top_k"]) == (True, 0.7, 0.9, 40)


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", ("anthropic", "claude-3-haiku-20240307-v1:0")),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", ("anthropic", "claude-3-5-haiku-20241022-v1:0")),
        ("global.amazon.nova-2-lite-v1:0", ("amazon", "nova-2-lite-v1:0")),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0",
            ("meta", "llama3-8b-instruct-v1:0"),
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
            ("", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"),
        ),
    ],
)
def test_bedrock_model_family_is_read_from_ids_profiles_and_arns(model_id: str, family: tuple[str, str]) -> None:
    from llmops.adapters.aws.bedrock_llm import model_family

    assert model_family(model_id) == family


def test_converse_sends_top_k_under_the_name_each_model_family_reads() -> None:
    from llmops.adapters.aws.bedrock_llm import converse_arguments

    request = GenerationRequest(system="s", user="u", max_new_tokens=8, top_k=40)

    assert converse_arguments("us.anthropic.claude-3-5-haiku-20241022-v1:0", request)[
        "additionalModelRequestFields"
    ] == {"top_k": 40}
    assert converse_arguments("amazon.nova-lite-v1:0", request)["additionalModelRequestFields"] == {
        "inferenceConfig": {"topK": 40}
    }
    assert converse_arguments("cohere.command-r-plus-v1:0", request)["additionalModelRequestFields"] == {"k": 40}
    assert converse_arguments("mistral.mixtral-8x7b-instruct-v0:1", request)["additionalModelRequestFields"] == {
        "top_k": 40
    }
    assert "additionalModelRequestFields" not in converse_arguments("meta.llama3-8b-instruct-v1:0", REQUEST)
    with pytest.raises(UnsupportedParameters, match=r"top_k 40 cannot be sent to Bedrock model mistral\.mistral-large"):
        converse_arguments("mistral.mistral-large-2407-v1:0", request)
    with pytest.raises(UnsupportedParameters, match=r"top_k 40 cannot be sent to Bedrock model meta\.llama3"):
        converse_arguments("meta.llama3-8b-instruct-v1:0", request)


@pytest.mark.parametrize(
    ("model_id", "request_", "problem"),
    [
        ("meta.llama3-8b-instruct-v1:0", GenerationRequest("s", "u", 8, temperature=1.5), "temperature 1.5 is above 1"),
        ("anthropic.claude-3-haiku-20240307-v1:0", GenerationRequest("s", "u", 8, stop=("\n\n",)), "only whitespace"),
    ],
)
def test_converse_refuses_parameters_the_model_would_refuse_with_what_to_change(
    model_id: str, request_: GenerationRequest, problem: str
) -> None:
    from llmops.adapters.aws.bedrock_llm import converse_arguments

    with pytest.raises(UnsupportedParameters, match=problem):
        converse_arguments(model_id, request_)


def test_whitespace_stop_sequences_go_to_models_that_take_them() -> None:
    from llmops.adapters.aws.bedrock_llm import converse_arguments

    request = GenerationRequest("s", "u", 8, stop=("\n\n",))

    assert converse_arguments("meta.llama3-8b-instruct-v1:0", request)["inferenceConfig"]["stopSequences"] == ["\n\n"]
