import Foundation
import ImageIO
import NN
import Tensor

/// Why a latent-diffusion model file cannot be used.
public enum LatentDiffusionError: Error, CustomStringConvertible {
    case notALatentDiffusionModel(path: String, kind: String?)
    case badMetadata(path: String, key: String)
    case wrongTask(path: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .notALatentDiffusionModel(let path, let kind):
            return "\(path): not a latent-diffusion model (kind \(kind ?? "missing")); train one with stylize train sr|colorize"
        case .badMetadata(let path, let key): return "\(path): missing or malformed metadata '\(key)'"
        case .wrongTask(let path, let expected, let found): return "\(path): a \(found) model, not a \(expected) one"
        }
    }
}

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

/// A trained latent-diffusion model: the KL autoencoder (`vae.*`), the denoising UNet (`unet.*`), the latent scale,
/// the noise schedule and what it predicts, and its task. Samples with DDIM.
public final class LatentDiffusionModel: Module {
    public let task: String
    public let autoencoder: AutoencoderKL
    public let unet: DenoisingUNet
    public let scaleFactor: Float
    public let schedule: NoiseSchedule
    public let prediction: DiffusionPrediction

    /// - Parameter task: `sr` or `colorize` (``conditionChannels(task:factor:)``).
    public init(task: String, autoencoder: AutoencoderKL, unet: DenoisingUNet, scaleFactor: Float, schedule: NoiseSchedule,
                prediction: DiffusionPrediction) {
        self.task = task
        self.autoencoder = autoencoder
        self.unet = unet
        self.scaleFactor = scaleFactor
        self.schedule = schedule
        self.prediction = prediction
        super.init()
        registerModule("vae", autoencoder)
        registerModule("unet", unet)
    }

    /// Channels of the condition on the latent grid: RGB for `sr`, f² lightness planes for `colorize`.
    public static func conditionChannels(task: String, factor: Int) -> Int { task == "colorize" ? factor * factor : 3 }

    /// The training condition of target images `[N, 3, H, W]` in [−1, 1]: for `sr` their f×f box average (the
    /// low-resolution image, on the latent grid); for `colorize` their lightness (L/50 − 1) space-to-depth.
    public static func condition(for image: Tensor, task: String, factor: Int) -> Tensor {
        task == "colorize" ? spaceToDepth(lightness(of: image), factor: factor) : image.averagePooled(kernel: factor)
    }

    /// `[N, C, H, W] → [N, C·f², H/f, W/f]`: each f×f block becomes channels (row-major within the block).
    public static func spaceToDepth(_ input: Tensor, factor: Int) -> Tensor {
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        return input.reshaped([batch, channels, height / factor, factor, width / factor, factor])
            .permuted([0, 1, 3, 5, 2, 4]).reshaped([batch, channels * factor * factor, height / factor, width / factor])
    }

    /// CIE L of RGB `[N, 3, H, W]` in [−1, 1], as L/50 − 1 in `[N, 1, H, W]` (no gradient).
    public static func lightness(of image: Tensor) -> Tensor {
        let (batch, height, width) = (image.shape[0], image.shape[2], image.shape[3]), plane = height * width
        let output = Tensor(uninitializedShape: [batch, 1, height, width])
        for sample in 0..<batch {
            let base = sample * 3 * plane
            for pixel in 0..<plane {
                func unit(_ channel: Int) -> Double { min(max((Double(image.pointer[base + channel * plane + pixel]) + 1) / 2, 0), 1) }
                output.pointer[sample * plane + pixel] = Float(ColorSpace.lab(red: unit(0), green: unit(1), blue: unit(2)).l / 50 - 1)
            }
        }
        return output
    }

    /// RGB `[1, 3, H, W]` in [−1, 1] with its lightness replaced by `lightness` (`[1, 1, H, W]`, L/50 − 1): the chroma
    /// (a, b) of `image` on the original L, clipped to the sRGB gamut.
    public static func replacingLightness(of image: Tensor, with lightness: Tensor) -> Tensor {
        let plane = image.shape[2] * image.shape[3]
        let output = Tensor(uninitializedShape: image.shape)
        for pixel in 0..<plane {
            func unit(_ channel: Int) -> Double { min(max((Double(image.pointer[channel * plane + pixel]) + 1) / 2, 0), 1) }
            let lab = ColorSpace.lab(red: unit(0), green: unit(1), blue: unit(2))
            let rgb = ColorSpace.rgb(l: (Double(lightness.pointer[pixel]) + 1) * 50, a: lab.a, b: lab.b)
            for (channel, value) in [rgb.red, rgb.green, rgb.blue].enumerated() { output.pointer[channel * plane + pixel] = Float(value * 2 - 1) }
        }
        return output
    }

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

    /// The latent-grid multiple inputs are padded to (in condition pixels).
    var gridMultiple: Int { unet.configuration.sideMultiple }

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
        let (padded, padding) = Self.padded(low, multiple: gridMultiple)
        let result = generate(condition: padded, steps: steps, seed: seed, eta: eta, tiling: tiling, progress: progress)
        let cropped = result.sliced(axis: 2, (padding.top * factor)..<((padding.top + source.height) * factor))
            .sliced(axis: 3, (padding.left * factor)..<((padding.left + source.width) * factor))
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
        let lightness = Self.lightness(of: source.tensor())
        let (padded, padding) = Self.padded(lightness, multiple: gridMultiple * factor)
        let result = generate(condition: Self.spaceToDepth(padded, factor: factor), steps: steps, seed: seed, eta: eta, tiling: tiling,
                              progress: progress)
        let cropped = result.sliced(axis: 2, padding.top..<(padding.top + source.height)).sliced(axis: 3, padding.left..<(padding.left + source.width))
        return Image(tensor: Self.replacingLightness(of: cropped.copied(), with: lightness))
    }

    /// A sample for a training image `[1, 3, H, W]` (the page's preview): its condition through ``generate``.
    public func sample(image: Tensor, steps: Int, seed: UInt64) -> Image {
        let condition = Self.condition(for: image, task: task, factor: autoencoder.configuration.downsamplingFactor)
        let result = generate(condition: condition, steps: steps, seed: seed)
        return Image(tensor: task == "colorize" ? Self.replacingLightness(of: result, with: Self.lightness(of: image)) : result)
    }

    /// How the condition of a training image looks: the low-resolution image, or the gray one.
    public func conditionPreview(for image: Tensor) -> Image {
        task == "colorize" ? Image(tensor: Self.lightness(of: image)).rgb()
            : Image(tensor: image.averagePooled(kernel: autoencoder.configuration.downsamplingFactor))
    }

    /// Reflect-pads `[1, C, H, W]` (replicate where the side is too small) to multiples of `multiple`, centred.
    static func padded(_ tensor: Tensor, multiple: Int) -> (Tensor, (top: Int, left: Int)) {
        let height = tensor.shape[2], width = tensor.shape[3]
        let padHeight = (multiple - height % multiple) % multiple, padWidth = (multiple - width % multiple) % multiple
        guard padHeight > 0 || padWidth > 0 else { return (tensor, (0, 0)) }
        let top = padHeight / 2, left = padWidth / 2
        let mode: PaddingMode = padHeight - top < height && padWidth - left < width ? .reflect : .replicate
        return (tensor.padded(left: left, right: padWidth - left, top: top, bottom: padHeight - top, mode: mode), (top, left))
    }

    /// Metadata that makes the file self-describing (``load(contentsOf:)``).
    public var metadata: [String: String] {
        func json<T: Encodable>(_ value: T) -> String { (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}" }
        return ["kind": "latent_diffusion", "task": task, "autoencoder": json(autoencoder.configuration), "unet": json(unet.configuration),
                "scale_factor": String(scaleFactor), "schedule": schedule.kind.rawValue, "training_steps": String(schedule.trainingSteps),
                "prediction": prediction.rawValue]
    }

    /// Loads a model written with ``metadata`` (weights may be fp16).
    public static func load(contentsOf url: URL) throws -> LatentDiffusionModel {
        let archive = try Safetensors.read(contentsOf: url)
        let metadata = archive.metadata
        guard metadata["kind"] == "latent_diffusion" else { throw LatentDiffusionError.notALatentDiffusionModel(path: url.path, kind: metadata["kind"]) }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            guard let text = metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw LatentDiffusionError.badMetadata(path: url.path, key: key)
            }
            return value
        }
        let autoencoder = AutoencoderKL(try decode(AutoencoderConfiguration.self, "autoencoder"))
        let unet = DenoisingUNet(try decode(DenoisingUNetConfiguration.self, "unet"))
        guard let scale = metadata["scale_factor"].flatMap(Float.init), scale > 0, scale.isFinite else {
            throw LatentDiffusionError.badMetadata(path: url.path, key: "scale_factor")
        }
        guard let kind = metadata["schedule"].flatMap(NoiseSchedule.Kind.init(rawValue:)),
              let steps = metadata["training_steps"].flatMap(Int.init), steps >= 2 else {
            throw LatentDiffusionError.badMetadata(path: url.path, key: "schedule")
        }
        guard let prediction = metadata["prediction"].flatMap(DiffusionPrediction.init(rawValue:)) else {
            throw LatentDiffusionError.badMetadata(path: url.path, key: "prediction")
        }
        guard let task = metadata["task"], ["sr", "colorize"].contains(task) else { throw LatentDiffusionError.badMetadata(path: url.path, key: "task") }
        let model = LatentDiffusionModel(task: task, autoencoder: autoencoder, unet: unet, scaleFactor: scale,
                                         schedule: NoiseSchedule(kind: kind, trainingSteps: steps), prediction: prediction)
        try model.load(stateDictionary: archive.dictionary)
        model.eval()
        return model
    }
}
