import Foundation
import NN
import Tensor

/// A diffusers `DDIMScheduler` configuration (`scheduler/scheduler_config.json`), with diffusers' defaults.
public struct DiffusersDDIMConfiguration: Equatable, Sendable {
    public var trainingSteps = 1000
    public var betaStart = 0.0001
    public var betaEnd = 0.02
    public var schedule = NoiseSchedule.Kind.linear
    public var stepsOffset = 0
    public var setAlphaToOne = true
    public var clipSample = true
    public var clipSampleRange: Float = 1
    public var prediction = DiffusionPrediction.epsilon

    public init() {}

    public init(json data: Data, file: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DiffusersError.unsupported(file: file, reason: "not a JSON object")
        }
        if let name = object["_class_name"] as? String, !["DDIMScheduler", "DDPMScheduler"].contains(name) {
            throw DiffusersError.unsupported(file: file, reason: "\(name) is not supported (DDIMScheduler is)")
        }
        let reader = ConfigurationReader(object: object, file: file)
        trainingSteps = try reader.int("num_train_timesteps", default: 1000)
        betaStart = try reader.double("beta_start", default: 0.0001)
        betaEnd = try reader.double("beta_end", default: 0.02)
        let kind = (object["beta_schedule"] as? String) ?? "linear"
        switch kind {
        case "linear": schedule = .linear
        case "scaled_linear": schedule = .scaledLinear
        case "squaredcos_cap_v2": schedule = .cosine
        default: throw DiffusersError.unsupported(file: file, reason: "beta_schedule \(kind) is not supported")
        }
        stepsOffset = try reader.int("steps_offset", default: 0)
        setAlphaToOne = try reader.bool("set_alpha_to_one", default: true)
        clipSample = try reader.bool("clip_sample", default: true)
        clipSampleRange = Float(try reader.double("clip_sample_range", default: 1))
        let predictionType = (object["prediction_type"] as? String) ?? "epsilon"
        guard let parsed = DiffusionPrediction(rawValue: predictionType) else {
            throw DiffusersError.unsupported(file: file, reason: "prediction_type \(predictionType) is not supported")
        }
        prediction = parsed
        try reader.require("timestep_spacing", equals: "leading")
        try reader.require("thresholding", equals: false)
        try reader.require("trained_betas", equals: NSNull())
        try reader.require("rescale_betas_zero_snr", equals: false)
    }

    /// The published model's scheduler as the model card describes it (scaled-linear β 0.0015 → 0.0155 over 1,000 steps,
    /// ε-prediction, no clipping; diffusers' defaults otherwise), for benchmarks without the files.
    public static var compVisSuperResolution: DiffusersDDIMConfiguration {
        var configuration = DiffusersDDIMConfiguration()
        (configuration.betaStart, configuration.betaEnd, configuration.schedule, configuration.clipSample) = (0.0015, 0.0155, .scaledLinear, false)
        return configuration
    }

    public var noiseSchedule: NoiseSchedule {
        NoiseSchedule(kind: schedule, trainingSteps: trainingSteps, betaStart: betaStart, betaEnd: betaEnd)
    }
}

/// The published latent-diffusion ×4 super-resolution model in diffusers' layout (`CompVis/ldm-super-resolution-4x-openimages`,
/// what `LDMSuperResolutionPipeline` runs): `unet/` (a ``DiffusersUNet`` on the 3 latent channels and the 3-channel
/// low-resolution image, concatenated), `vqvae/` (a ``DiffusersVQModel``, f = 4) and `scheduler/` (DDIM).
public final class LDMSuperResolutionModel {
    public let unet: DiffusersUNet
    public let vqvae: DiffusersVQModel
    public let scheduler: DiffusersDDIMConfiguration
    public let folder: URL

    /// The upscaling factor: the VQ decoder's 2^(levels − 1).
    public var factor: Int { 1 << (vqvae.configuration.blockOutChannels.count - 1) }

    public init(unet: DiffusersUNet, vqvae: DiffusersVQModel, scheduler: DiffusersDDIMConfiguration, folder: URL) {
        self.unet = unet
        self.vqvae = vqvae
        self.scheduler = scheduler
        self.folder = folder
    }

    /// Whether `url` is a folder with `unet/config.json` and `vqvae/config.json`.
    public static func isDiffusersFolder(_ url: URL) -> Bool {
        ["unet", "vqvae"].allSatisfy { FileManager.default.fileExists(atPath: url.appendingPathComponent("\($0)/config.json").path) }
    }

    /// Reads the three components: configs, then weights (`diffusion_pytorch_model.safetensors`, its `.fp16` variant,
    /// or `.bin`; float32 or float16; old attention key names accepted), refusing missing or mismatched keys by name.
    public static func load(from folder: URL) throws -> LDMSuperResolutionModel {
        func data(_ relative: String) throws -> (Data, String) {
            let url = folder.appendingPathComponent(relative)
            guard let contents = FileManager.default.contents(atPath: url.path) else { throw DiffusersError.missingFile(url.path) }
            return (contents, url.path)
        }
        let (unetJSON, unetFile) = try data("unet/config.json")
        let (vqJSON, vqFile) = try data("vqvae/config.json")
        let unetConfiguration = try UNet2DConfiguration(json: unetJSON, file: unetFile)
        let vqConfiguration = try VQModelConfiguration(json: vqJSON, file: vqFile)
        guard unetConfiguration.inChannels == vqConfiguration.latentChannels + 3, unetConfiguration.outChannels == vqConfiguration.latentChannels else {
            throw DiffusersError.unsupported(file: unetFile, reason: "in_channels \(unetConfiguration.inChannels) / out_channels "
                                             + "\(unetConfiguration.outChannels) do not fit a super-resolution UNet on \(vqConfiguration.latentChannels) latent channels")
        }
        // Required: diffusers' defaults (linear β 0.0001 → 0.02) would sample the published model with the wrong schedule.
        let (schedulerJSON, schedulerFile) = try data("scheduler/scheduler_config.json")
        let schedulerConfiguration = try DiffusersDDIMConfiguration(json: schedulerJSON, file: schedulerFile)
        let unet = DiffusersUNet(configuration: unetConfiguration, generator: RandomGenerator(seed: 0))
        let vqvae = DiffusersVQModel(configuration: vqConfiguration, generator: RandomGenerator(seed: 0))
        try loadWeights(unet, from: folder.appendingPathComponent("unet"))
        try loadWeights(vqvae, from: folder.appendingPathComponent("vqvae"))
        unet.eval()
        vqvae.eval()
        return LDMSuperResolutionModel(unet: unet, vqvae: vqvae, scheduler: schedulerConfiguration, folder: folder)
    }

    /// diffusers' names for the attention keys of files saved before its attention refactor.
    static func modernKey(_ key: String) -> String {
        for (old, new) in [(".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")] where key.contains(old) {
            return key.replacingOccurrences(of: old, with: new)
        }
        return key
    }

    /// Loads a component's weights into `module` (strict: every key, every shape).
    static func loadWeights(_ module: Module, from component: URL) throws {
        let names = ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.bin",
                     "diffusion_pytorch_model.fp16.bin"]
        guard let file = names.map({ component.appendingPathComponent($0) }).first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw DiffusersError.missingFile(component.appendingPathComponent("diffusion_pytorch_model.safetensors (or .bin)").path)
        }
        let entries: [(name: String, tensor: Tensor)] = file.pathExtension == "bin"
            ? try TorchCheckpoint.read(contentsOf: file)
            : try Safetensors.read(contentsOf: file).tensors
        var table: [String: Tensor] = [:]
        for (name, tensor) in entries { table[modernKey(name)] = tensor }
        do {
            try module.load(stateDictionary: table)
        } catch let error as ModuleError {
            throw DiffusersError.weights(file: file.path, reason: "\(error)")
        }
    }

    /// The DDIM sampler the scheduler configuration describes, for `steps` steps with `eta`.
    public func sampler(steps: Int, eta: Double) -> DDIMSampler {
        DDIMSampler(schedule: scheduler.noiseSchedule, steps: steps, eta: eta, prediction: scheduler.prediction,
                    offset: scheduler.stepsOffset, finalAlphaIsOne: scheduler.setAlphaToOne,
                    clipSample: scheduler.clipSample ? scheduler.clipSampleRange : nil)
    }
}
