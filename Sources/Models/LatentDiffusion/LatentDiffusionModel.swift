import Foundation
import ImageIO
import NN
import Tensor

/// Why a latent-diffusion model file cannot be used.
public enum LatentDiffusionError: Error, CustomStringConvertible {
    case notALatentDiffusionModel(path: String, kind: String?)
    case notAnAutoencoder(path: String, kind: String?)
    case badMetadata(path: String, key: String)

    public var description: String {
        switch self {
        case .notALatentDiffusionModel(let path, let kind):
            return "\(path): not a latent-diffusion model (its metadata says kind \(kind ?? "nothing"), not latent_diffusion)"
        case .notAnAutoencoder(let path, let kind):
            return "\(path): not an autoencoder (its metadata says kind \(kind ?? "nothing"), not autoencoder_kl)"
        case .badMetadata(let path, let key): return "\(path): missing or malformed metadata '\(key)'"
        }
    }
}

/// What a latent-diffusion model is conditioned on, and so what it does.
public enum LatentDiffusionTask: String, Sendable, CaseIterable, Codable {
    /// ×f super-resolution: the low-resolution image, on the latent grid, concatenated to the latent.
    case superResolution = "sr"
    /// Colorization: the lightness L at full resolution, space-to-depth onto the latent grid (f² channels).
    case colorization = "colorize"
}

/// A trained latent-diffusion model: the KL autoencoder (`vae.*`), the denoising UNet (`unet.*`), the latent scale,
/// the noise schedule and what it predicts, and its task. Samples with DDIM.
public final class LatentDiffusionModel: Module {
    public let task: LatentDiffusionTask
    public let autoencoder: AutoencoderKL
    public let unet: DenoisingUNet
    public let scaleFactor: Float
    public let schedule: NoiseSchedule
    public let prediction: DiffusionPrediction

    /// - Parameter task: what the UNet is conditioned on (``conditionChannels(task:factor:)``).
    public init(task: LatentDiffusionTask, autoencoder: AutoencoderKL, unet: DenoisingUNet, scaleFactor: Float, schedule: NoiseSchedule,
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
    public static func conditionChannels(task: LatentDiffusionTask, factor: Int) -> Int { task == .colorization ? factor * factor : 3 }

    /// The training condition of target images `[N, 3, H, W]` in [−1, 1]: for `sr` their f×f box average (the
    /// low-resolution image, on the latent grid); for `colorize` their lightness (L/50 − 1) space-to-depth.
    public static func condition(for image: Tensor, task: LatentDiffusionTask, factor: Int) -> Tensor {
        task == .colorization ? spaceToDepth(LabEncoding.lightness(ofRGB: image), factor: factor) : image.averagePooled(kernel: factor)
    }

    /// `[N, C, H, W] → [N, C·f², H/f, W/f]` (the module-level ``spaceToDepth(_:factor:)``).
    public static func spaceToDepth(_ input: Tensor, factor: Int) -> Tensor { Models.spaceToDepth(input, factor: factor) }

    /// Metadata that makes the file self-describing (``load(contentsOf:)``).
    public var metadata: [String: String] {
        return ["kind": "latent_diffusion", "task": task.rawValue, "autoencoder": ModelMetadata.json(autoencoder.configuration),
                "unet": ModelMetadata.json(unet.configuration),
                "scale_factor": String(scaleFactor), "schedule": schedule.kind.rawValue, "training_steps": String(schedule.trainingSteps),
                "prediction": prediction.rawValue]
    }

    /// Loads a model written with ``metadata`` (weights may be fp16).
    public static func load(contentsOf url: URL) throws -> LatentDiffusionModel {
        let archive = try Safetensors.read(contentsOf: url)
        let metadata = archive.metadata
        guard metadata["kind"] == "latent_diffusion" else { throw LatentDiffusionError.notALatentDiffusionModel(path: url.path, kind: metadata["kind"]) }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            try ModelMetadata.decode(type, key, in: metadata) { LatentDiffusionError.badMetadata(path: url.path, key: $0) }
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
        guard let task = metadata["task"].flatMap(LatentDiffusionTask.init(rawValue:)) else {
            throw LatentDiffusionError.badMetadata(path: url.path, key: "task")
        }
        let model = LatentDiffusionModel(task: task, autoencoder: autoencoder, unet: unet, scaleFactor: scale,
                                         schedule: NoiseSchedule(kind: kind, trainingSteps: steps), prediction: prediction)
        try model.load(stateDictionary: archive.dictionary)
        model.eval()
        return model
    }
}
