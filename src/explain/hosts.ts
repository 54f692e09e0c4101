/**
 * Well-known API hosts of model providers, clouds and gateways, by country: the corpus a base-URL
 * rule is checked against. Each host is the one the provider's own API documentation gives for
 * its endpoint (as of 2026; the catalogue's network.base-url entries cite the pages for those it
 * shares). Hosts only: the corpus asks which host triggers, so paths are left out.
 */
export const API_HOSTS: ReadonlyArray<{ host: string; country: string; what: string }> = [
  // United States
  { host: 'api.anthropic.com', country: 'US', what: 'Anthropic API' },
  { host: 'api.openai.com', country: 'US', what: 'OpenAI API' },
  { host: 'generativelanguage.googleapis.com', country: 'US', what: 'Gemini API' },
  { host: 'aiplatform.googleapis.com', country: 'US', what: 'Vertex AI (global endpoint)' },
  { host: 'us-east5-aiplatform.googleapis.com', country: 'US', what: 'Vertex AI (regional endpoint, Claude models)' },
  { host: 'bedrock-runtime.us-east-1.amazonaws.com', country: 'US', what: 'Amazon Bedrock runtime' },
  { host: 'example-resource.openai.azure.com', country: 'US', what: 'Azure OpenAI (a resource name under openai.azure.com)' },
  { host: 'example-resource.services.ai.azure.com', country: 'US', what: 'Azure AI Foundry (a resource name under services.ai.azure.com)' },
  { host: 'api.x.ai', country: 'US', what: 'xAI API' },
  { host: 'api.groq.com', country: 'US', what: 'Groq (OpenAI-compatible /openai/v1)' },
  { host: 'api.together.xyz', country: 'US', what: 'Together AI' },
  { host: 'api.fireworks.ai', country: 'US', what: 'Fireworks AI (/inference/v1)' },
  { host: 'api.perplexity.ai', country: 'US', what: 'Perplexity API' },
  { host: 'api.cohere.com', country: 'US', what: 'Cohere API' },
  { host: 'api.deepinfra.com', country: 'US', what: 'DeepInfra (OpenAI-compatible /v1/openai)' },
  { host: 'api.cerebras.ai', country: 'US', what: 'Cerebras inference' },
  { host: 'openrouter.ai', country: 'US', what: 'OpenRouter (/api/v1)' },
  { host: 'gateway.ai.cloudflare.com', country: 'US', what: 'Cloudflare AI Gateway' },
  { host: 'api.portkey.ai', country: 'US', what: 'Portkey gateway' },
  { host: 'api.githubcopilot.com', country: 'US', what: 'GitHub Copilot API' },
  { host: 'models.github.ai', country: 'US', what: 'GitHub Models' },
  { host: 'api-inference.huggingface.co', country: 'US', what: 'Hugging Face Inference API' },
  { host: 'router.huggingface.co', country: 'US', what: 'Hugging Face Inference Providers router' },
  // Europe
  { host: 'api.mistral.ai', country: 'FR', what: 'Mistral AI' },
  { host: 'api.aleph-alpha.com', country: 'DE', what: 'Aleph Alpha' },
  { host: 'api.scaleway.ai', country: 'FR', what: 'Scaleway Generative APIs' },
  { host: 'api.studio.nebius.com', country: 'NL', what: 'Nebius AI Studio' },
  // China (mainland)
  { host: 'api.deepseek.com', country: 'CN', what: 'DeepSeek' },
  { host: 'open.bigmodel.cn', country: 'CN', what: 'Zhipu BigModel' },
  { host: 'api.moonshot.cn', country: 'CN', what: 'Moonshot (Kimi), China platform' },
  { host: 'dashscope.aliyuncs.com', country: 'CN', what: 'Alibaba Cloud Model Studio (DashScope), Beijing' },
  { host: 'ark.cn-beijing.volces.com', country: 'CN', what: 'Volcano Engine Ark (ByteDance)' },
  { host: 'qianfan.baidubce.com', country: 'CN', what: 'Baidu Qianfan' },
  { host: 'api.minimaxi.com', country: 'CN', what: 'MiniMax, China platform' },
  { host: 'api.siliconflow.cn', country: 'CN', what: 'SiliconFlow' },
  { host: 'api.hunyuan.cloud.tencent.com', country: 'CN', what: 'Tencent Hunyuan' },
  { host: 'api.lkeap.cloud.tencent.com', country: 'CN', what: 'Tencent Cloud LKE' },
  { host: 'api.stepfun.com', country: 'CN', what: 'StepFun' },
  { host: 'api.lingyiwanwu.com', country: 'CN', what: '01.AI (Yi)' },
  { host: 'api.baichuan-ai.com', country: 'CN', what: 'Baichuan' },
  { host: 'spark-api-open.xf-yun.com', country: 'CN', what: 'iFlytek Spark' },
  { host: 'api.sensenova.cn', country: 'CN', what: 'SenseTime SenseNova' },
  { host: 'api-inference.modelscope.cn', country: 'CN', what: 'ModelScope API inference' },
  // Outside mainland China, Chinese providers' international platforms
  { host: 'api.z.ai', country: 'SG', what: 'Z.ai (Zhipu international)' },
  { host: 'api.moonshot.ai', country: 'SG', what: 'Moonshot (Kimi), international platform' },
  { host: 'dashscope-intl.aliyuncs.com', country: 'SG', what: 'Alibaba Cloud Model Studio, Singapore' },
  { host: 'api.minimax.io', country: 'SG', what: 'MiniMax, international platform' },
  { host: 'api.siliconflow.com', country: 'SG', what: 'SiliconFlow, international' },
  // Others
  { host: 'llm.api.cloud.yandex.net', country: 'RU', what: 'Yandex Cloud Foundation Models' },
  { host: 'gigachat.devices.sberbank.ru', country: 'RU', what: 'Sber GigaChat' },
  { host: 'clovastudio.stream.ntruss.com', country: 'KR', what: 'NAVER CLOVA Studio' },
  { host: 'api.upstage.ai', country: 'KR', what: 'Upstage Solar' },
  { host: 'api.sarvam.ai', country: 'IN', what: 'Sarvam AI' },
  { host: 'api.ai21.com', country: 'IL', what: 'AI21 Labs' },
];
