"""What one answer costs: per token for Bedrock models, per instance-hour for SageMaker endpoints, nothing locally.

The table holds on-demand list prices (USD, us-east-1) of the models the platform is usually configured with; a
deployment sets its own in EVALUATION_PRICES (JSON), e.g. `{"bedrock:my-model": {"input_per_1k": 0.001,
"output_per_1k": 0.002}, "sagemaker:my-endpoint": {"instance_type": "ml.g5.2xlarge"}}`. A model with no price is
reported as unpriced (cost None), never as free. A setting that cannot be read is the deployment's fault
(DeploymentMisconfigured), not a request's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from llmops.domain.errors import DeploymentMisconfigured


class Price(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1k: float = Field(default=0.0, ge=0, description="USD per 1,000 input tokens.")
    output_per_1k: float = Field(default=0.0, ge=0, description="USD per 1,000 output tokens.")
    instance_hour: float = Field(default=0.0, ge=0, description="USD per hour of the endpoint's instance.")


DEFAULT_PRICES: dict[str, Price] = {
    "bedrock:anthropic.claude-3-haiku-20240307-v1:0": Price(input_per_1k=0.00025, output_per_1k=0.00125),
    "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0": Price(input_per_1k=0.0008, output_per_1k=0.004),
    "bedrock:anthropic.claude-3-sonnet-20240229-v1:0": Price(input_per_1k=0.003, output_per_1k=0.015),
    "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0": Price(input_per_1k=0.003, output_per_1k=0.015),
    "bedrock:amazon.titan-text-express-v1": Price(input_per_1k=0.0002, output_per_1k=0.0006),
    "bedrock:amazon.titan-text-lite-v1": Price(input_per_1k=0.00015, output_per_1k=0.0002),
    "bedrock:meta.llama3-8b-instruct-v1:0": Price(input_per_1k=0.0003, output_per_1k=0.0006),
    "bedrock:mistral.mistral-7b-instruct-v0:2": Price(input_per_1k=0.00015, output_per_1k=0.0002),
}
# SageMaker endpoints are priced by their instance type; EVALUATION_PRICES names the endpoint's price per hour.
INSTANCE_HOUR_PRICES: dict[str, float] = {
    "ml.g5.xlarge": 1.006,
    "ml.g5.2xlarge": 1.212,
    "ml.g5.12xlarge": 7.09,
    "ml.g6.xlarge": 0.805,
    "ml.inf2.xlarge": 0.99,
}


def _price(raw: object) -> Price:
    """A price object; `{"instance_type": "ml.g5.xlarge"}` stands for that instance type's hourly price."""
    if isinstance(raw, dict) and "instance_type" in raw:
        instance = raw["instance_type"]
        if instance not in INSTANCE_HOUR_PRICES:
            raise ValueError(f"no hourly price known for {instance}; give instance_hour instead")
        return Price(instance_hour=INSTANCE_HOUR_PRICES[instance])
    return Price.model_validate(raw)


class PriceTable:
    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """The table with the overrides in `text` (EVALUATION_PRICES); DeploymentMisconfigured if unreadable."""
        if not text.strip():
            return cls()
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise TypeError("EVALUATION_PRICES must be a JSON object of model id to price")
            return cls({model: _price(price) for model, price in raw.items()})
        except (ValueError, TypeError) as error:
            raise DeploymentMisconfigured(f"EVALUATION_PRICES is not a valid price table: {error}") from error

    def price(self, model_id: str) -> Price | None:
        if model_id.startswith("local:"):
            return Price()
        return self._prices.get(model_id)

    def cost(self, model_id: str, input_tokens: int, output_tokens: int, latency_ms: float) -> float | None:
        """USD for one answer; None when the model has no price. An endpoint's share of its instance-hour is the
        time the answer took (a busy endpoint serving one request at a time; concurrent requests cost less)."""
        price = self.price(model_id)
        if price is None:
            return None
        per_token = input_tokens / 1000 * price.input_per_1k + output_tokens / 1000 * price.output_per_1k
        return per_token + latency_ms / 3_600_000 * price.instance_hour
