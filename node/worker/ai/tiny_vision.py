"""Tiny image-to-video, upscale and segment-anything-2 models from configs with random weights.

The same idea as tiny_models.py (the tiny Stable Diffusion): nothing is downloaded, the model
classes are those of the real checkpoints, saved with save_pretrained where the runner loads
models from, so the runner's real `from_pretrained` path runs:

- image-to-video: a StableVideoDiffusionPipeline (UNetSpatioTemporalConditionModel,
  AutoencoderKLTemporalDecoder, CLIPVisionModelWithProjection, CLIPImageProcessor, Euler) after
  diffusers' own fast test; 6 frames instead of SVD-xt's 25;
- upscale: a StableDiffusionUpscalePipeline (a 7-channel UNet with noise-level class embeddings,
  a 3-block VAE, so 4× like stabilityai/stable-diffusion-x4-upscaler);
- the NSFW safety checker: diffusers' StableDiffusionSafetyChecker over a tiny CLIP vision model,
  every concept threshold set to `threshold` (cosine similarities lie in [-1, 1]: -2 flags every
  image, 2 none);
- segment-anything-2: a transformers Sam2Model (Hiera backbone, FPN, prompt encoder, two-way
  mask decoder) at a 64-pixel input instead of 1024, with the preprocessor_config.json of the
  real checkpoints (resize to the square input, rescale, ImageNet mean and std).

    build_tiny_svd(models_dir)       # <models_dir>/test/tiny-svd/
    build_tiny_upscaler(models_dir)  # <models_dir>/test/tiny-upscaler/
    build_tiny_sam2(models_dir)      # <models_dir>/test/tiny-sam2/
    build_tiny_safety_checker(models_dir, threshold=-2.0)  # <models_dir>/test/tiny-safety-checker/

Command line: `python -m node.worker.ai.tiny_models MODELS_DIR --model svd|upscaler|sam2|safety`.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from .tiny_models import save_tiny, tiny_clip_tokenizer, write_clip_vocab

TINY_SVD_ID = "test/tiny-svd"
TINY_UPSCALER_ID = "test/tiny-upscaler"
TINY_SAM2_ID = "test/tiny-sam2"
TINY_SAFETY_CHECKER_ID = "test/tiny-safety-checker"

SVD_FRAMES = 6
SAM2_SIZE = 64  # the model's square input (facebook/sam2-hiera-*: 1024); low-res masks are 1/4
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw initial weights from `seed` without disturbing the global generator."""
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        yield
    finally:
        torch.random.set_rng_state(state)


def tiny_svd_pipeline(seed: int = 0):
    """A StableVideoDiffusionPipeline with random weights (diffusers' fast-test sizes)."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    with _seeded(seed):
        unet = UNetSpatioTemporalConditionModel(
            sample_size=32,
            num_frames=SVD_FRAMES,
            in_channels=8,  # noisy latents + the conditioning image's latents
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            cross_attention_dim=32,
            num_attention_heads=(4, 8),
            addition_time_embed_dim=32,
            projection_class_embeddings_input_dim=3 * 32,  # fps, motion bucket, noise aug
        )
    with _seeded(seed + 1):
        vae = AutoencoderKLTemporalDecoder(
            in_channels=3,
            out_channels=3,
            block_out_channels=(32, 64),  # its GroupNorms have 32 groups
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            latent_channels=4,
            layers_per_block=1,
        )
    with _seeded(seed + 2):
        image_encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=2,
                             num_attention_heads=4, image_size=224, intermediate_size=37,
                             patch_size=32)  # the pipeline resizes to CLIP's 224
        )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    feature_extractor = CLIPImageProcessor(crop_size=32, size=32)
    return StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet,
                                        scheduler=scheduler, feature_extractor=feature_extractor)


def tiny_upscale_pipeline(seed: int = 0):
    """A StableDiffusionUpscalePipeline with random weights (diffusers' fast-test sizes)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_clip_tokenizer()
    vocab = tokenizer.get_vocab()
    with _seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=7,  # latents + the low-resolution image
            out_channels=4,
            block_out_channels=(32, 32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            use_linear_projection=True,
            only_cross_attention=(True, True, False),
            num_class_embeds=100,  # the noise level
            norm_num_groups=8,
        )
    with _seeded(seed + 1):
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            block_out_channels=[16, 16, 32],  # three blocks: latents are 1/4 of the output
            down_block_types=["DownEncoderBlock2D"] * 3,
            up_block_types=["UpDecoderBlock2D"] * 3,
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=8,
            scaling_factor=0.08333,  # the x4 upscaler's
        )
    with _seeded(seed + 2):
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=1000, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                num_hidden_layers=2, max_position_embeddings=77, projection_dim=32,
                hidden_act="gelu", layer_norm_eps=1e-5,
                bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                pad_token_id=vocab["<|endoftext|>"],
            )
        )
    return StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )


def tiny_sam2(seed: int = 0):
    """(Sam2Model with random weights, its preprocessor config)."""
    from transformers import Sam2Config, Sam2Model

    s = SAM2_SIZE
    config = Sam2Config(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model", hidden_size=16, num_attention_heads=1,
                image_size=[s, s], blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 2],
                window_size_per_stage=[4, 4, 2, 2], global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2],
            ),
            backbone_channel_list=[128, 64, 32, 16],
            backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
            fpn_hidden_size=32,
        ),
        prompt_encoder_config=dict(hidden_size=32, image_size=s, patch_size=16,
                                   mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
    )
    with _seeded(seed):
        model = Sam2Model(config).eval()
    preprocessor = {
        "image_processor_type": "Sam2ImageProcessorFast",
        "processor_class": "Sam2Processor",
        "size": {"height": s, "width": s},
        "mask_size": {"height": s // 4, "width": s // 4},
        "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD,
        "do_convert_rgb": True,
    }
    return model, preprocessor


def build_tiny_svd(models_dir: str | Path, model_id: str = TINY_SVD_ID, *, layout: str = "plain",
                   seed: int = 0, overwrite: bool = False) -> Path:
    def write(folder: Path) -> None:
        tiny_svd_pipeline(seed).save_pretrained(folder, safe_serialization=True)

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)


def build_tiny_upscaler(models_dir: str | Path, model_id: str = TINY_UPSCALER_ID, *,
                        layout: str = "plain", seed: int = 0, overwrite: bool = False) -> Path:
    def write(folder: Path) -> None:
        tiny_upscale_pipeline(seed).save_pretrained(folder, safe_serialization=True)
        write_clip_vocab(folder / "tokenizer")

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)


def build_tiny_sam2(models_dir: str | Path, model_id: str = TINY_SAM2_ID, *, layout: str = "plain",
                    seed: int = 0, overwrite: bool = False) -> Path:
    def write(folder: Path) -> None:
        model, preprocessor = tiny_sam2(seed)
        model.save_pretrained(folder, safe_serialization=True)
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)


def tiny_safety_checker(seed: int = 0, threshold: float = 0.0):
    """A StableDiffusionSafetyChecker with random weights and every concept threshold set."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=1, vocab_size=1000, bos_token_id=0, eos_token_id=2,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                           num_hidden_layers=2, image_size=224, patch_size=32),
        projection_dim=32,
    )
    with _seeded(seed):
        checker = StableDiffusionSafetyChecker(config)
        with torch.no_grad():
            checker.concept_embeds.normal_()
            checker.special_care_embeds.normal_()
            checker.concept_embeds_weights.fill_(threshold)
            checker.special_care_embeds_weights.fill_(threshold)
    return checker.eval()


def build_tiny_safety_checker(models_dir: str | Path, model_id: str = TINY_SAFETY_CHECKER_ID, *,
                              layout: str = "plain", seed: int = 0, overwrite: bool = False,
                              threshold: float = 0.0) -> Path:
    from transformers import CLIPImageProcessor

    def write(folder: Path) -> None:
        tiny_safety_checker(seed, threshold).save_pretrained(folder, safe_serialization=True)
        CLIPImageProcessor().save_pretrained(folder)  # CLIP's standard preprocessing

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)
