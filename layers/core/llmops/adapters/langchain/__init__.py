"""LangChain interop for teams that build on LangChain: the platform's retriever as a `BaseRetriever`, catalog
prompt versions as prompt templates, and chat models that call through the platform's Bedrock and SageMaker adapters
(a version's model parameters included).

Not part of any Lambda function (the layer leaves this package out); install the `langchain` extra to use it.
"""

from llmops.adapters.langchain.interop import PlatformRetriever, chat_model, prompt_template

__all__ = ["PlatformRetriever", "chat_model", "prompt_template"]
