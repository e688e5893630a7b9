/**
 * The model configs the InvokeAI double lists by default (`GET /api/v2/models/`), shaped like
 * the real AnyModelConfig (every field present, `null` where unset).
 */

/** Fixed keys, so tests can name the double's models. */
export const DOUBLE_MODEL_KEYS = {
  sdxlMain: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b01',
  sdxlMainWithVae: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b02',
  sd1Main: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b03',
  sdxlVaeFp16: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b04',
  sdxlVae: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b05',
  sd1Vae: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b06',
  sdxlLora: '3e5b0a6e-6f0e-4c43-9d2a-1c5e0e7a9b07',
} as const;

const common = (key: string, name: string, file_size: number) => ({
  key,
  hash: `blake3:${key.replace(/-/g, '').padEnd(64, '0')}`,
  path: `${key}/${name}`,
  file_size,
  name,
  description: null as string | null,
  source: `/models/${name}`,
  source_type: 'path',
  source_api_response: null,
  source_url: null,
  cover_image: null,
});

/** ≥1 sdxl main (with default_settings), 1 sdxl main naming a default VAE, 1 sd-1 main, VAEs for both bases, a LoRA. */
export function defaultDoubleModels(): Record<string, unknown>[] {
  const K = DOUBLE_MODEL_KEYS;
  return [
    {
      ...common(K.sdxlMain, 'Juggernaut XL v9', 6_938_040_682),
      description: 'SDXL main model',
      type: 'main',
      format: 'diffusers',
      base: 'sdxl',
      repo_variant: 'fp16',
      variant: 'normal',
      prediction_type: 'epsilon',
      trigger_phrases: null,
      default_settings: {
        vae: null,
        vae_precision: 'fp16',
        scheduler: 'dpmpp_2m_sde_k',
        steps: 30,
        cfg_scale: 6,
        cfg_rescale_multiplier: null,
        width: 1024,
        height: 1024,
        guidance: null,
        cpu_only: null,
      },
    },
    {
      ...common(K.sdxlMainWithVae, 'SDXL Base 1.0', 6_938_040_682),
      description: 'SDXL base; its default VAE is the fp16 fix',
      type: 'main',
      format: 'diffusers',
      base: 'sdxl',
      repo_variant: 'fp16',
      variant: 'normal',
      prediction_type: 'epsilon',
      trigger_phrases: null,
      default_settings: {
        vae: K.sdxlVaeFp16,
        vae_precision: 'fp32',
        scheduler: 'euler',
        steps: 25,
        cfg_scale: 7.5,
        width: 1024,
        height: 1024,
      },
    },
    {
      ...common(K.sd1Main, 'Dreamshaper 8', 2_132_625_894),
      type: 'main',
      format: 'checkpoint',
      base: 'sd-1',
      config_path: 'stable-diffusion/v1-inference.yaml',
      variant: 'normal',
      prediction_type: 'epsilon',
      trigger_phrases: null,
      default_settings: { scheduler: 'euler_a', steps: 25, cfg_scale: 7, width: 512, height: 512 },
    },
    {
      ...common(K.sdxlVaeFp16, 'sdxl-vae-fp16-fix', 334_643_276),
      type: 'vae',
      format: 'diffusers',
      base: 'sdxl',
      repo_variant: '',
      cpu_only: null,
    },
    {
      ...common(K.sdxlVae, 'sdxl-vae', 334_643_276),
      type: 'vae',
      format: 'checkpoint',
      base: 'sdxl',
      config_path: null,
      cpu_only: null,
    },
    {
      ...common(K.sd1Vae, 'sd-vae-ft-mse', 334_695_179),
      type: 'vae',
      format: 'checkpoint',
      base: 'sd-1',
      config_path: null,
      cpu_only: null,
    },
    {
      ...common(K.sdxlLora, 'Detail Tweaker XL', 228_458_000),
      type: 'lora',
      format: 'lycoris',
      base: 'sdxl',
      trigger_phrases: ['detailed'],
      default_settings: { weight: 0.75, weight_min: null, weight_max: null },
    },
  ];
}
