import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Stage 2 of a restoration model at inference: from an estimate, the rectified flow's image.
public struct RestorationSampler {
    public let flow: LatentFlow
    /// Latent tiles for large images (latent pixels); the UNet runs on overlapping tiles blended at every step.
    public var tiling: LatentTiling

    public init(flow: LatentFlow, tiling: LatentTiling = LatentTiling()) {
        self.flow = flow
        self.tiling = tiling
    }

    /// The side multiple estimates need (f × the UNet's grid multiple).
    public var sideMultiple: Int { flow.autoencoder.configuration.downsamplingFactor * flow.unet.configuration.sideMultiple }

    /// `estimate` `[1, 3, H, W]` (sides multiples of ``sideMultiple``) refined by the flow: its latent plus σ·noise
    /// (seeded), `steps` Euler steps from t = 0 to 1, decoded; clamped to [−1, 1]. Encoder, UNet and decoder run in
    /// overlapping, blended latent tiles when the latent is larger than one tile.
    public func refine(estimate: Tensor, steps: Int, seed: UInt64, progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        withoutGradient {
            let factor = flow.autoencoder.configuration.downsamplingFactor
            let (height, width) = (estimate.shape[2] / factor, estimate.shape[3] / factor)
            let unetTiles = tiling.aligned(to: flow.unet.configuration.sideMultiple), plainTiles = tiling.aligned(to: 1)
            let perPass = { (tiles: LatentTiling) in tiles.ranges(length: height).count * tiles.ranges(length: width).count }
            let total = 2 * perPass(plainTiles) + steps * perPass(unetTiles)
            var done = 0
            func advance() { done += 1; progress?(done, total) }
            let condition = LatentDiffusionModel.tiled(height: height, width: width, tiling: plainTiles, scale: 1) { rows, columns in
                defer { advance() }
                let pixels = estimate.sliced(axis: 2, (rows.lowerBound * factor)..<(rows.upperBound * factor))
                    .sliced(axis: 3, (columns.lowerBound * factor)..<(columns.upperBound * factor))
                return flow.encode(pixels)
            }
            let random = RandomGenerator(seed: seed)
            let start = condition + Tensor.randomNormal(condition.shape, generator: random) * flow.configuration.sigma
            let final = Self.integrate(from: start, steps: steps) { current, time in
                LatentDiffusionModel.tiled(height: height, width: width, tiling: unetTiles, scale: 1) { rows, columns in
                    defer { advance() }
                    return flow.velocity(current.sliced(axis: 2, rows).sliced(axis: 3, columns), times: [time],
                                         condition: condition.sliced(axis: 2, rows).sliced(axis: 3, columns))
                }
            }
            return LatentDiffusionModel.tiled(height: height, width: width, tiling: plainTiles, scale: factor) { rows, columns in
                defer { advance() }
                return flow.decode(final.sliced(axis: 2, rows).sliced(axis: 3, columns))
            }.clamped(min: -1, max: 1)
        }
    }
}

extension RestorationSampler {
    /// Euler integration of dx/dt = v(x, t) from t = 0 to 1 in `steps` equal steps: x ← x + v(x, k/K)/K for k = 0…K−1.
    public static func integrate(from start: Tensor, steps: Int, velocity: (Tensor, Float) -> Tensor) -> Tensor {
        let delta = 1 / Float(max(steps, 1))
        var x = start
        for step in 0..<steps { x = x + velocity(x, Float(step) * delta) * delta }
        return x
    }
}

/// Super-resolution and colorization with a two-stage ``RestorationModel``: the stage-1 estimate, moved towards the
/// flow's image by `detail` (0: the estimate alone — the lowest error; 1: the flow's image — the most detail), with the
/// input's content kept exactly: an upscale is back-projected onto the input, a colorization keeps the lightness.
public struct RestorationPipeline {
    public let model: RestorationModel
    public var tiling: LatentTiling

    public init(model: RestorationModel, tiling: LatentTiling = LatentTiling()) {
        self.model = model
        self.tiling = tiling
    }

    /// Whether the model has stage 2 (`detail` above 0 does something).
    public var hasFlow: Bool { model.flow != nil }

    /// The estimate moved towards the flow's image by `detail`, for `[1, 3, H, W]` with sides multiples of the
    /// sampler's (the caller pads).
    func refined(_ estimate: Tensor, detail: Float, steps: Int, seed: UInt64, progress: ((Int, Int) -> Void)?) -> Tensor {
        guard let flow = model.flow, detail > 0, steps > 0 else { return estimate }
        let sampler = RestorationSampler(flow: flow, tiling: tiling)
        let padded = PaddedToMultiple(estimate, multiple: sampler.sideMultiple)
        let refined = padded.cropped(sampler.refine(estimate: padded.tensor, steps: steps, seed: seed, progress: progress))
        return withoutGradient { estimate + (refined - estimate) * detail }
    }

    /// ×f super-resolution of `image` (any size). After the blend, `consistencySteps` rounds of back-projection with
    /// PIL's bicubic ÷f as the downscale make the output downscale to the input.
    public func upscale(_ image: Image, detail: Float, steps: Int, seed: UInt64, consistencySteps: Int = 4,
                        progress: ((Int, Int) -> Void)? = nil) -> Image {
        guard case .upscaler(let upscaler) = model.estimator else { preconditionFailure("not a super-resolution model") }
        let low = image.rgb().converted(toBitDepth: 8).tensor()
        let estimate = withoutGradient { upscaler(low).clamped(min: -1, max: 1) }
        let blended = refined(estimate, detail: detail, steps: steps, seed: seed, progress: progress)
        return Image(tensor: RestorationPipeline.backProjected(blended, onto: low, steps: consistencySteps))
    }

    /// `steps` rounds of `output += bicubic↑(low − bicubic↓(output))` with PIL's bicubic both ways (the ÷f of the
    /// consistency measure), clamped to [−1, 1].
    public static func backProjected(_ output: Tensor, onto low: Tensor, steps: Int) -> Tensor {
        withoutGradient {
            var current = output
            for _ in 0..<steps {
                let residual = low - current.resampled(height: low.shape[2], width: low.shape[3], filter: .bicubic)
                current = (current + residual.resampled(height: output.shape[2], width: output.shape[3], filter: .bicubic))
                    .clamped(min: -1, max: 1)
            }
            return current.clamped(min: -1, max: 1)
        }
    }

    /// Colorization of `image` (gray or colour): the annealed-mean chroma (`temperature`; `vibrance` scales it), moved
    /// towards the flow's image by `detail`, on the input's exact lightness.
    public func colorize(_ image: Image, detail: Float, steps: Int, seed: UInt64, temperature: Float = 0.38, vibrance: Float = 1,
                         progress: ((Int, Int) -> Void)? = nil) -> Image {
        guard case .chroma(let classifier) = model.estimator else { preconditionFailure("not a colorization model") }
        let source = image.rgb().converted(toBitDepth: 8)
        let lightness = LabEncoding.lightness(ofRGB: source.tensor())
        let padded = PaddedToMultiple(lightness, multiple: classifier.configuration.sideMultiple)
        let chroma = classifier.chroma(for: padded.tensor, temperature: temperature, vibrance: vibrance)
        let estimate = LabEncoding.rgb(lightness: padded.tensor, chroma: chroma)
        let blended = padded.cropped(refined(estimate, detail: detail, steps: steps, seed: seed, progress: progress))
        return Image(tensor: LabEncoding.replacingLightness(ofRGB: blended.copied(), with: lightness))
    }
}
