"""Model providers behind one interface (base.Provider): Ollama (local, default) and the
optional cloud providers OpenAI, Anthropic and Google Gemini."""

from .anthropic import AnthropicProvider
from .base import ChatRequest, ChatResult, Provider, ProviderError
from .gemini import GeminiProvider
from .ollama import OllamaProvider
from .openai import OpenAIProvider

CLOUD_PROVIDERS = (OpenAIProvider, AnthropicProvider, GeminiProvider)

__all__ = ["AnthropicProvider", "ChatRequest", "ChatResult", "CLOUD_PROVIDERS", "GeminiProvider",
           "OllamaProvider", "OpenAIProvider", "Provider", "ProviderError"]
