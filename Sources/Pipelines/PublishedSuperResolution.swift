import Foundation
import Models
import NN
import Tensor

extension LDMSuperResolutionModel {
    /// `LDMSuperResolutionPipeline` on a low-resolution image `[1, 3, h, w]` in [−1, 1] (sides multiples of 32 after
    /// the caller's resize): the latents start as `noise` (`[1, latent, h, w]`, N(0, 1)); at each DDIM step the UNet sees
    /// the latents with the image concatenated; `stepNoise(k)` gives step k's noise when η > 0; the VQ model decodes.
    /// Returns the final latents and the image `[1, 3, f·h, f·w]` clamped to [−1, 1].
    ///
    /// Latents larger than `tiling` (latent pixels = input pixels) are denoised tile by tile at every step, the UNet's
    /// outputs blended with linear ramps before the DDIM update (one shared latent, no seams), and decoded in blended
    /// tiles: memory bounded by the tile size. Within one tile this is exactly the pipeline's loop (tested against
    /// diffusers). `progress(done, total)` after each UNet or decoder tile.
    public func upscale(_ image: Tensor, noise: Tensor, steps: Int, eta: Double, tiling: LatentTiling = LatentTiling(side: 1 << 20),
                        stepNoise: (Int) -> Tensor, progress: (Int, Int) -> Void = { _, _ in }) -> (latents: Tensor, image: Tensor) {
        withoutGradient {
            let sampler = sampler(steps: steps, eta: eta)
            let (height, width) = (image.shape[2], image.shape[3])
            let unetTiles = tiling.aligned(to: 1 << (unet.configuration.blockOutChannels.count - 1)), decoderTiles = tiling.aligned(to: 1)
            let total = sampler.timesteps.count * unetTiles.ranges(length: height).count * unetTiles.ranges(length: width).count
                + decoderTiles.ranges(length: height).count * decoderTiles.ranges(length: width).count
            var done = 0
            var latents = noise
            for (index, timestep) in sampler.timesteps.enumerated() {
                let current = latents
                let prediction = LatentDiffusionModel.tiled(height: height, width: width, tiling: unetTiles, scale: 1) { rows, columns in
                    defer { done += 1; progress(done, total) }
                    return unet.forward(Tensor.concatenated([current.sliced(axis: 2, rows).sliced(axis: 3, columns),
                                                             image.sliced(axis: 2, rows).sliced(axis: 3, columns)], axis: 1), timestep: timestep)
                }
                latents = sampler.step(output: prediction, timestep: timestep, sample: latents, noise: eta > 0 ? stepNoise(index) : nil).previous
            }
            let final = latents
            let decoded = LatentDiffusionModel.tiled(height: height, width: width, tiling: decoderTiles, scale: factor) { rows, columns in
                defer { done += 1; progress(done, total) }
                return vqvae.decode(final.sliced(axis: 2, rows).sliced(axis: 3, columns))
            }
            return (latents, decoded.clamped(min: -1, max: 1))
        }
    }
}
