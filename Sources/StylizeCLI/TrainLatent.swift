import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor
import Training

/// Comma-separated positive integers (`1,2,4`).
func integerList(_ text: String, option: String) throws -> [Int] {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("\(option) takes comma-separated positive integers, not '\(text)'") }
    return values.map { $0! }
}

/// The photos of a latent recipe: DATAROOT/train when it exists, else DATAROOT itself (subfolders included).
func photoDataset(_ common: CommonTrainingArguments) throws -> SingleDataset {
    try common.loading {
        let root = try common.root()
        let train = root.appendingPathComponent("train")
        let folder = FileManager.default.fileExists(atPath: train.path) ? train : root
        return try SingleDataset(folder: folder, preprocessing: try common.preprocessing())
    }
}

extension Train {
    struct Autoencoder: TrainingSubcommand {
        static let recipeName = "vae"
        static let configuration = CommandConfiguration(
            commandName: "vae",
            abstract: "Train latent diffusion's KL autoencoder (the latent space of sr and colorize).",
            discussion: """
            Data: colour photos in DATAROOT/train or DATAROOT. Loss: L1 reconstruction + --kl-weight × KL of the \
            posterior to N(0, I), and with --gan-weight > 0 a PatchGAN hinge term from iteration --gan-start on (its \
            discriminator D is saved in the state). Writes latest_net_VAE.safetensors with its configuration and latent scale factor \
            (1/std of the latents), which stylize train sr|colorize --vae takes. Defaults: ch 64, multipliers 1,2,4 \
            (f = 4), 2 blocks per level, 4 latent channels, Adam 1e-4, batch 4, 128×128 crops of images scaled to \
            width 286, 100 epochs.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @Option(help: "Channels of the first level.") var vaeChannels = 64
        @Option(help: "Channel multipliers per level, comma-separated (f = 2^(levels − 1)).") var vaeMultipliers = "1,2,4"
        @Option(help: "Residual blocks per level.") var vaeBlocks = 2
        @Option(help: "Latent channels.") var latentChannels = 4
        @Option(help: "Weight of the KL term.") var klWeight: Float = 1e-6
        @Option(help: "Weight of the optional PatchGAN term (hinge loss, as latent diffusion's; 0: off).") var ganWeight: Float = 0
        @Option(help: "Iterations of reconstruction alone before the PatchGAN term starts.") var ganStart = 2000
        @Option(help: "Initial posterior log-variance (e.g. -6: learn the reconstruction first; default: PyTorch's initialisation, about 0).") var initialLogVariance: Float?

        func validate() throws {
            var common = self.common
            common.defaults = .latent
            try common.check()
            _ = try integerList(vaeMultipliers, option: "--vae-multipliers")
            guard vaeChannels >= 1, vaeBlocks >= 1, latentChannels >= 1, klWeight >= 0 else {
                throw ValidationError("--vae-channels, --vae-blocks and --latent-channels must be positive, --kl-weight not negative")
            }
            guard ganWeight >= 0, ganStart >= 0 else { throw ValidationError("--gan-weight and --gan-start must not be negative") }
            if ganWeight > 0, common.cropSize < 32 {
                throw ValidationError("--crop-size \(common.cropSize) is too small for the PatchGAN (--gan-weight): use at least 32")
            }
        }

        func networkDefinition() throws -> [(option: String, value: String)] {
            [("--vae-channels", String(vaeChannels)), ("--vae-multipliers", vaeMultipliers), ("--vae-blocks", String(vaeBlocks)),
             ("--latent-channels", String(latentChannels)), ("--gan-weight", ganWeight > 0 ? "> 0 (with a discriminator)" : "0 (none)")]
        }

        func start() throws {
            var common = self.common
            common.defaults = .latent
            common.applyThreads()
            var options = AutoencoderOptions()
            options.configuration.channels = vaeChannels
            options.configuration.multipliers = try integerList(vaeMultipliers, option: "--vae-multipliers")
            options.configuration.blocksPerLevel = vaeBlocks
            options.configuration.latentChannels = latentChannels
            options.klWeight = klWeight
            options.initialLogVariance = initialLogVariance
            options.ganWeight = ganWeight
            options.ganStart = ganStart
            guard common.cropSize % options.configuration.downsamplingFactor == 0 else {
                throw ValidationError("--crop-size \(common.cropSize) must be a multiple of f = \(options.configuration.downsamplingFactor)")
            }
            let training = try common.trainingOptions()
            let dataset = try photoDataset(common)
            let recipe = AutoencoderRecipe(options: options, training: training)
            try common.train(recipe: recipe, training: training, dataset: dataset,
                             summary: "AutoencoderKL ch \(vaeChannels) × [\(vaeMultipliers)], f \(options.configuration.downsamplingFactor), \(latentChannels) latent channels, \(dataset.count) photos")
        }
    }

    /// `sr` and `colorize`: a denoising UNet on a trained VAE's latents.
    struct LatentDiffusionArguments: ParsableArguments {
        @Option(help: "The trained autoencoder (latest_net_VAE.safetensors of stylize train vae).") var vae: String?
        @Option(help: "UNet channels of the first level.") var unetChannels = 64
        @Option(help: "UNet channel multipliers, comma-separated.") var unetMultipliers = "1,2,2"
        @Option(help: "UNet residual blocks per level.") var unetBlocks = 2
        @Option(help: "UNet levels with self-attention, comma-separated (0 = the full latent grid; 'none' for none).") var attentionLevels = "1,2"
        @Option(help: "Noise schedule: linear, scaled_linear or cosine.") var schedule = "scaled_linear"
        @Option(help: "What the UNet predicts: epsilon or v.") var prediction = "epsilon"
        @Option(help: "EMA decay of the sampling weights.") var ema: Float = 0.999
        @Option(help: "DDIM steps of the page's samples.") var previewSteps = 20

        func options(task: LatentDiffusionTask) throws -> LatentDiffusionOptions {
            var options = LatentDiffusionOptions()
            options.task = task
            options.unet.channels = unetChannels
            options.unet.multipliers = try integerList(unetMultipliers, option: "--unet-multipliers")
            options.unet.blocksPerLevel = unetBlocks
            options.unet.attentionLevels = attentionLevels == "none" ? [] : try attentionLevels.split(separator: ",").map {
                guard let level = Int($0), level >= 0 else { throw ValidationError("--attention-levels takes comma-separated levels or none") }
                return level
            }
            guard let kind = NoiseSchedule.Kind(rawValue: schedule == "cosine" ? "cosine" : schedule) else {
                throw ValidationError("--schedule must be linear, scaled_linear or cosine")
            }
            options.schedule = kind
            guard let parsed = prediction == "v" ? DiffusionPrediction.velocity : DiffusionPrediction(rawValue: prediction) else {
                throw ValidationError("--prediction must be epsilon or v")
            }
            options.prediction = parsed
            guard (0..<1).contains(ema), unetChannels >= 1, unetBlocks >= 1, previewSteps >= 1 else {
                throw ValidationError("--ema must be in [0, 1); --unet-channels, --unet-blocks and --preview-steps positive")
            }
            options.emaDecay = ema
            options.previewSteps = previewSteps
            return options
        }

        /// The network-defining options (see ``TrainingSubcommand``).
        func definition() -> [(option: String, value: String)] {
            [("--vae", vae ?? "-"), ("--unet-channels", String(unetChannels)), ("--unet-multipliers", unetMultipliers),
             ("--unet-blocks", String(unetBlocks)), ("--attention-levels", attentionLevels), ("--schedule", schedule),
             ("--prediction", prediction)]
        }

        /// The frozen autoencoder and its latent scale factor.
        func autoencoder() throws -> (AutoencoderKL, Float) {
            guard let vae else { throw ValidationError("give --vae (the latest_net_VAE.safetensors of stylize train vae)") }
            let url = URL(fileURLWithPath: vae)
            do {
                let archive = try Safetensors.read(contentsOf: url)
                guard archive.metadata["kind"] == "autoencoder_kl", let text = archive.metadata["autoencoder"],
                      let configuration = try? JSONDecoder().decode(AutoencoderConfiguration.self, from: Data(text.utf8)),
                      let scale = archive.metadata["scale_factor"].flatMap(Float.init), scale > 0, scale.isFinite else {
                    throw CommandFailure("\(url.path): not an autoencoder written by stylize train vae")
                }
                let model = AutoencoderKL(configuration)
                try model.load(stateDictionary: archive.dictionary)
                return (model, scale)
            } catch let error as CommandFailure { throw error } catch { throw CommandFailure("\(error)") }
        }

        func train(task: LatentDiffusionTask, common: CommonTrainingArguments, conditionNoise: Float = 0) throws {
            common.applyThreads()
            var options = try self.options(task: task)
            options.conditionNoise = conditionNoise
            let (autoencoder, scale) = try autoencoder()
            let multiple = autoencoder.configuration.downsamplingFactor * options.unet.sideMultiple
            guard common.cropSize % multiple == 0 else {
                throw ValidationError("--crop-size \(common.cropSize) must be a multiple of \(multiple) (f × the UNet's grid multiple)")
            }
            let training = try common.trainingOptions()
            let dataset = try photoDataset(common)
            let recipe = LatentDiffusionRecipe(options: options, autoencoder: autoencoder, scaleFactor: scale, training: training)
            let factor = autoencoder.configuration.downsamplingFactor
            try common.train(recipe: recipe, training: training, dataset: dataset,
                             summary: "\(task == .superResolution ? "super-resolution ×\(factor)" : "colorization") UNet ch \(unetChannels) × [\(unetMultipliers)] on a VAE with f \(factor) (scale \(String(format: "%.3f", scale))), \(dataset.count) photos")
        }
    }

    struct SuperResolution: TrainingSubcommand {
        static let recipeName = "sr"
        static let configuration = CommandConfiguration(
            commandName: "sr",
            abstract: "Train ×f super-resolution by latent diffusion on a trained VAE (f of the VAE, 4 by default).",
            discussion: """
            Data: colour photos in DATAROOT/train or DATAROOT; each crop is the target, its f×f box average the \
            low-resolution condition (concatenated to the latent on the same grid, with Gaussian noise of a random \
            level up to --condition-noise whose level the UNet sees). DDPM training (uniform t, MSE to ε or v), Adam \
            1e-4, EMA weights. Writes latest_net_LDM.safetensors (autoencoder + EMA UNet) for stylize upscale --model.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @OptionGroup var diffusion: LatentDiffusionArguments
        @Option(help: "Largest noise level added to the condition in training (0: none).") var conditionNoise: Float = 0.1

        func validate() throws {
            var common = self.common
            common.defaults = .latent
            try common.check()
            guard diffusion.vae != nil || common.resume else { throw ValidationError("give --vae (the latest_net_VAE.safetensors of stylize train vae)") }
            guard conditionNoise >= 0 else { throw ValidationError("--condition-noise must not be negative") }
        }

        func networkDefinition() throws -> [(option: String, value: String)] { diffusion.definition() }

        func start() throws {
            var common = self.common
            common.defaults = .latent
            try diffusion.train(task: .superResolution, common: common, conditionNoise: conditionNoise)
        }
    }

    struct Colorize: TrainingSubcommand {
        static let recipeName = "colorize"
        static let configuration = CommandConfiguration(
            commandName: "colorize",
            abstract: "Train colorization by latent diffusion on a trained VAE.",
            discussion: """
            Data: colour photos in DATAROOT/train or DATAROOT. The condition is the lightness L of each crop, f×f \
            space-to-depth onto the latent grid; the sampled image's chroma is put on the input's exact L. Writes \
            latest_net_LDM.safetensors for stylize colorize --model.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @OptionGroup var diffusion: LatentDiffusionArguments

        func validate() throws {
            var common = self.common
            common.defaults = .latent
            try common.check()
            guard diffusion.vae != nil || common.resume else { throw ValidationError("give --vae (the latest_net_VAE.safetensors of stylize train vae)") }
        }

        func networkDefinition() throws -> [(option: String, value: String)] { diffusion.definition() }

        func start() throws {
            var common = self.common
            common.defaults = .latent
            try diffusion.train(task: .colorization, common: common)
        }
    }
}
