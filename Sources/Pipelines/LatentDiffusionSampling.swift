import Foundation
import ImageIO
import Models
import NN
import Tensor

/// How large latents are split for sampling: square tiles of `side` latent pixels overlapping by `overlap`.
public struct LatentTiling: Sendable, Equatable {
    /// Tile side in latent pixels (output pixels / f).
    public var side: Int
    /// Overlap of neighbouring tiles in latent pixels; blended with linear ramps.
    public var overlap: Int

    /// 64-pixel latent tiles (256 output pixels at f = 4) overlapping by 16.
    public init(side: Int = 64, overlap: Int = 16) {
        self.side = side
        self.overlap = overlap
    }

    /// Side and stride rounded down to multiples of `multiple` (at least one multiple each).
    public func aligned(to multiple: Int) -> LatentTiling {
        let side = Swift.max(self.side / multiple * multiple, multiple)
        let stride = Swift.max((side - Swift.min(overlap, side - 1)) / multiple * multiple, multiple)
        return LatentTiling(side: side, overlap: side - stride)
    }

    /// The tiles along a side of `length`: starts `stride` apart, the last flush with the end.
    public func ranges(length: Int) -> [Range<Int>] {
        guard length > side else { return [0..<length] }
        let stride = Swift.max(side - overlap, 1)
        var starts = Array(Swift.stride(from: 0, to: length - side, by: stride))
        starts.append(length - side)
        return starts.map { $0..<($0 + side) }
    }

    /// Blend weights along one tile at `scale` output pixels per latent pixel: 1 inside, ramping down over the
    /// overlap on sides that have a neighbour (never 0).
    public func ramp(_ range: Range<Int>, length: Int, scale: Int) -> [Float] {
        let count = range.count * scale, width = Float(Swift.max(overlap * scale, 1) + 1)
        return (0..<count).map { index in
            var weight: Float = 1
            if range.lowerBound > 0 { weight = Swift.min(weight, Float(index + 1) / width) }
            if range.upperBound < length { weight = Swift.min(weight, Float(count - index) / width) }
            return weight
        }
    }
}

extension LatentDiffusionModel {
    /// The latent-grid multiple inputs are padded to (in condition pixels).
    var gridMultiple: Int { unet.configuration.sideMultiple }

    /// DDIM from Gaussian latents (seeded) given a condition on the latent grid `[N, Cc, h, w]`: the decoded image
    /// `[N, 3, h·f, w·f]`, clamped to [−1, 1]. h and w must be multiples of the UNet's side multiple.
    ///
    /// Latents larger than `tiling` are denoised tile by tile at every step: the UNet's outputs on overlapping tiles
    /// are blended with linear ramps before the DDIM update, so all tiles share one latent and no seam can form; the
    /// decoder runs on overlapping latent tiles blended the same way in pixels. Memory is bounded by the tile size;
    /// a latent within one tile is sampled whole, exactly as without tiling.
    ///
    /// - Parameter progress: called after each UNet or decoder tile with (done, total), for feedback inside a long image.
    public func generate(condition: Tensor, steps: Int, seed: UInt64, eta: Double = 0, noiseLevel: Float = 0,
                         tiling: LatentTiling = LatentTiling(), progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        withoutGradient {
            let random = RandomGenerator(seed: seed)
            let (batch, height, width) = (condition.shape[0], condition.shape[2], condition.shape[3])
            let latentShape = [batch, autoencoder.configuration.latentChannels, height, width]
            var latent = Tensor.randomNormal(latentShape, generator: random)
            let sampler = DDIMSampler(schedule: schedule, steps: steps, eta: eta, prediction: prediction)
            let levels = unet.configuration.conditionsOnNoiseLevel ? [Float](repeating: noiseLevel * 1000, count: batch) : nil
            let multiple = gridMultiple
            let unetTiles = tiling.aligned(to: multiple), decoderTiles = tiling.aligned(to: 1)
            let total = sampler.timesteps.count * unetTiles.ranges(length: height).count * unetTiles.ranges(length: width).count
                + decoderTiles.ranges(length: height).count * decoderTiles.ranges(length: width).count
            var done = 0
            for timestep in sampler.timesteps {
                let current = latent
                let output = Self.tiled(height: height, width: width, tiling: unetTiles, scale: 1) { rows, columns in
                    let tile = Tensor.concatenated([current.sliced(axis: 2, rows).sliced(axis: 3, columns),
                                                    condition.sliced(axis: 2, rows).sliced(axis: 3, columns)], axis: 1)
                    defer { done += 1; progress?(done, total) }
                    return self.unet.forward(tile, timesteps: [Float](repeating: Float(timestep), count: batch), noiseLevels: levels)
                }
                latent = sampler.step(output: output, timestep: timestep, sample: latent,
                                      noise: eta > 0 ? Tensor.randomNormal(latentShape, generator: random) : nil).previous
            }
            let scaled = latent * (1 / scaleFactor)
            return Self.tiled(height: height, width: width, tiling: decoderTiles, scale: autoencoder.configuration.downsamplingFactor) {
                rows, columns in
                defer { done += 1; progress?(done, total) }
                return self.autoencoder.decode(scaled.sliced(axis: 2, rows).sliced(axis: 3, columns))
            }.clamped(min: -1, max: 1)
        }
    }

    /// Runs `body` on overlapping tiles of an `height × width` grid and blends its outputs (`[N, C, rows·scale,
    /// columns·scale]`) with weights that ramp linearly across each overlap. One tile covering the grid is returned as is.
    public static func tiled(height: Int, width: Int, tiling: LatentTiling, scale: Int,
                      _ body: (Range<Int>, Range<Int>) -> Tensor) -> Tensor {
        let rowTiles = tiling.ranges(length: height), columnTiles = tiling.ranges(length: width)
        if rowTiles.count == 1 && columnTiles.count == 1 { return body(0..<height, 0..<width) }
        var sum: Tensor?
        var weightSum = [Float](repeating: 0, count: height * scale * width * scale)
        let outputWidth = width * scale
        for rows in rowTiles {
            let rowWeights = tiling.ramp(rows, length: height, scale: scale)
            for columns in columnTiles {
                let columnWeights = tiling.ramp(columns, length: width, scale: scale)
                let tile = body(rows, columns)
                let (batch, channels, tileHeight, tileWidth) = (tile.shape[0], tile.shape[1], tile.shape[2], tile.shape[3])
                let total = sum ?? Tensor.zeros([batch, channels, height * scale, outputWidth])
                sum = total
                let outputPlane = height * scale * outputWidth
                for y in 0..<tileHeight {
                    let outputRow = (rows.lowerBound * scale + y) * outputWidth + columns.lowerBound * scale
                    for x in 0..<tileWidth {
                        let weight = rowWeights[y] * columnWeights[x]
                        weightSum[outputRow + x] += weight
                        for plane in 0..<(batch * channels) {
                            total.pointer[plane * outputPlane + outputRow + x] += weight * tile.pointer[(plane * tileHeight + y) * tileWidth + x]
                        }
                    }
                }
            }
        }
        let result = sum!
        let outputPlane = weightSum.count
        for plane in 0..<(result.count / outputPlane) {
            for index in 0..<outputPlane { result.pointer[plane * outputPlane + index] /= weightSum[index] }
        }
        return result
    }


    /// ×f super-resolution of `image` (any size): reflect-padded to the UNet's multiple, sampled (tiled beyond
    /// `tiling`), cropped back. Then `consistencySteps` rounds of back-projection: the output's f×f box average is
    /// compared with the input and the bicubic-upsampled difference added, so the output downscales to the input
    /// (the sampled detail stays; 0 keeps the raw sample).
    public func upscale(_ image: Image, steps: Int, seed: UInt64, eta: Double = 0, tiling: LatentTiling = LatentTiling(),
                        consistencySteps: Int = LatentDiffusionModel.defaultConsistencySteps,
                        progress: ((Int, Int) -> Void)? = nil) -> Image {
        let factor = autoencoder.configuration.downsamplingFactor
        let source = image.rgb().converted(toBitDepth: 8)
        let low = source.tensor()
        let padded = PaddedToMultiple(low, multiple: gridMultiple)
        let result = generate(condition: padded.tensor, steps: steps, seed: seed, eta: eta, tiling: tiling, progress: progress)
        let cropped = padded.cropped(result, scale: factor)
        return Image(tensor: Self.backProjected(cropped, onto: low, factor: factor, steps: consistencySteps))
    }

    /// Back-projection rounds of ``upscale(_:steps:seed:eta:tiling:consistencySteps:)`` unless told otherwise.
    public static let defaultConsistencySteps = 10

    /// `steps` rounds of `output += bicubic↑(low − box↓(output))`, clamped to [−1, 1]: `[N, 3, H·f, W·f]` made
    /// consistent with `low` `[N, 3, H, W]` under f×f box averaging.
    public static func backProjected(_ output: Tensor, onto low: Tensor, factor: Int, steps: Int) -> Tensor {
        withoutGradient {
            var current = output
            for _ in 0..<steps {
                let residual = low - current.averagePooled(kernel: factor)
                current = current + residual.resampled(height: output.shape[2], width: output.shape[3], filter: .bicubic)
            }
            return current.clamped(min: -1, max: 1)
        }
    }

    /// Colorization of `image` (gray or colour): its lightness kept exactly, the chroma sampled (tiled beyond `tiling`).
    public func colorize(_ image: Image, steps: Int, seed: UInt64, eta: Double = 0, tiling: LatentTiling = LatentTiling(),
                         progress: ((Int, Int) -> Void)? = nil) -> Image {
        let factor = autoencoder.configuration.downsamplingFactor
        let source = image.rgb().converted(toBitDepth: 8)
        let lightness = LabEncoding.lightness(ofRGB: source.tensor())
        let padded = PaddedToMultiple(lightness, multiple: gridMultiple * factor)
        let result = generate(condition: Self.spaceToDepth(padded.tensor, factor: factor), steps: steps, seed: seed, eta: eta, tiling: tiling,
                              progress: progress)
        let cropped = padded.cropped(result)
        return Image(tensor: LabEncoding.replacingLightness(ofRGB: cropped.copied(), with: lightness))
    }

    /// A sample for a training image `[1, 3, H, W]` (the page's preview): its condition through ``generate``.
    public func sample(image: Tensor, steps: Int, seed: UInt64) -> Image {
        let condition = Self.condition(for: image, task: task, factor: autoencoder.configuration.downsamplingFactor)
        let result = generate(condition: condition, steps: steps, seed: seed)
        return Image(tensor: task == .colorization ? LabEncoding.replacingLightness(ofRGB: result, with: LabEncoding.lightness(ofRGB: image)) : result)
    }

    /// How the condition of a training image looks: the low-resolution image, or the gray one.
    public func conditionPreview(for image: Tensor) -> Image {
        task == .colorization ? Image(tensor: LabEncoding.lightness(ofRGB: image)).rgb()
            : Image(tensor: image.averagePooled(kernel: autoencoder.configuration.downsamplingFactor))
    }
}
