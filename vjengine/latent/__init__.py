"""Latent composition: from parameters and signals to the w+ the generator renders."""

from vjengine.latent.composer import LatentComposer, seed_latents

__all__ = ["LatentComposer", "seed_latents"]
