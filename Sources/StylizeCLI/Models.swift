import ArgumentParser
import Foundation
import SafeFiles
import ModelHub
import Models
import NN
import Training

/// `stylize models`: the registry and checkpoint conversion.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List, download and import generator weights.",
        subcommands: [List.self, Fetch.self, Import.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the models the registry knows and which are installed.")

        func run() throws {
            let registry = try ModelRegistry.locate()
            print("models: \(registry.folder.path)    cache: \(registry.cache.path)")
            for entry in registry.entries {
                let state = registry.isInstalled(entry) ? (entry.file != nil ? "bundled" : "downloaded")
                    : (entry.file != nil ? "missing" : "downloaded on first use")
                let name = entry.qualifiedName.padding(toLength: max(34, entry.qualifiedName.count), withPad: " ", startingAt: 0)
                let summary = entry.summary.padding(toLength: max(26, entry.summary.count), withPad: " ", startingAt: 0)
                print("\(name) \(summary) \(state)")
            }
            print("Use a name with --model (stylize --model NAME, stylize upscale --model NAME, stylize colorize --model NAME); "
                  + "family/ picks among equal names.")
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download official weights into the cache (checked against their git blob id where known).")

        @Argument(help: "Model names (or family/name).")
        var names: [String]

        func run() throws {
            let registry = try ModelRegistry.locate()
            var failed = false
            for name in names {
                do {
                    let location = try registry.fetch(try registry.entry(named: name)) { print($0) }
                    print("\(name): \(location.path)")
                } catch {
                    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a PyTorch generator checkpoint (.pth, either format) to safetensors, or store a model as float16.",
            discussion: """
            The architecture is detected from the keys and shapes unless --arch is given; it is stored in the file's metadata. \
            A latent-diffusion, two-stage restoration or autoencoder file is rewritten as is, with its metadata (use --half). \
            A diffusers LDM super-resolution folder (unet/, vqvae/, scheduler/) is checked by loading it and written as a \
            folder of safetensors weights under diffusers' current key names (default output: FOLDER.stylize).
            """)

        @Argument(help: "The .pth file, or a diffusers LDM super-resolution folder.")
        var checkpoint: String

        @Option(help: "Output path (default: the checkpoint's name with .safetensors).")
        var output: String?

        @Option(help: "The generator architecture (default: detected from the keys and shapes).")
        var arch: GeneratorName?

        @Flag(help: "Store float16 weights (half the size).")
        var half = false

        func run() throws {
            let source = URL(fileURLWithPath: checkpoint)
            if LDMSuperResolutionModel.isDiffusersFolder(source) { return try importFolder(source) }
            let target = output.map { URL(fileURLWithPath: $0) } ?? source.deletingPathExtension().appendingPathExtension("safetensors")
            if source.pathExtension == "safetensors", let archive = try? Safetensors.read(contentsOf: source),
               let kind = archive.metadata["kind"], ["latent_diffusion", "restoration", "autoencoder_kl"].contains(kind) {
                guard target.standardizedFileURL != source.standardizedFileURL else {
                    throw ValidationError("\(source.path): give an --output path other than the model itself")
                }
                // Half: float16 wherever it holds a tensor closely, float32 elsewhere.
                try Safetensors.write(archive, to: target, precision: half ? .float16WhereCloseEnough : .exactly(.float32))
                print("\(kind) (\(archive.metadata["task"] ?? "-"), \(archive.tensors.count) tensors) → \(target.path)")
                return
            }
            let loaded = try LoadedGenerator.load(contentsOf: source, architecture: try arch.map { try GeneratorArchitecture(name: $0.name) })
            try loaded.module.save(to: target, dataType: half ? .float16 : .float32,
                                   metadata: loaded.architecture.metadata.merging(["source": source.lastPathComponent]) { a, _ in a })
            print("\(loaded.architecture.name) (ngf \(loaded.architecture.filters), \(loaded.architecture.normalization.rawValue) norm, "
                  + "\(loaded.module.parameterCount) parameters) → \(target.path)")
        }

        /// A diffusers folder, checked by loading (every key and shape), written as safetensors (float16 with --half) with
        /// its configs; the output folder must not exist (or be empty), and is never the source.
        func importFolder(_ source: URL) throws {
            let target = URL(fileURLWithPath: output ?? source.standardizedFileURL.path + ".stylize")
            guard target.standardizedFileURL.path != source.standardizedFileURL.path else {
                throw ValidationError("\(source.path): give an --output folder other than the model itself")
            }
            if let existing = try? FileManager.default.contentsOfDirectory(atPath: target.path), !existing.isEmpty {
                throw CommandFailure("\(target.path): exists and is not empty; choose another --output")
            }
            let model = try LDMSuperResolutionModel.load(from: source)
            for (component, module) in [("unet", model.unet as Module), ("vqvae", model.vqvae as Module)] {
                let folder = target.appendingPathComponent(component)
                try Folder.create(folder)
                try FileManager.default.copyItem(at: source.appendingPathComponent("\(component)/config.json"), to: folder.appendingPathComponent("config.json"))
                try module.save(to: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"),
                                precision: half ? .float16WhereCloseEnough : .exactly(.float32))
            }
            for extra in ["scheduler/scheduler_config.json", "model_index.json"] {
                let file = source.appendingPathComponent(extra)
                guard FileManager.default.fileExists(atPath: file.path) else { continue }
                try Folder.create(target.appendingPathComponent(extra).deletingLastPathComponent())
                try FileManager.default.copyItem(at: file, to: target.appendingPathComponent(extra))
            }
            _ = try LDMSuperResolutionModel.load(from: target)
            print("LDM super-resolution ×\(model.factor) (UNet \(model.unet.parameterCount), VQ \(model.vqvae.parameterCount) parameters) → \(target.path)")
        }
    }
}
