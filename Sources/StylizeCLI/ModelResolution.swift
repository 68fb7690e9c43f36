import Foundation
import ModelHub
import Models
import Pipelines

/// Turns `--model NAME|PATH` into a loaded model of the kind the command needs, with errors that say which command
/// takes the other kind.
enum ModelResolution {
    /// A generator (`apply`, `test`): a `.pth`/`.safetensors` file or a registry name (bundled, or official weights
    /// fetched into the cache on first use).
    static func generator(_ reference: String, architecture: String?, log: (String) -> Void) throws -> (LoadedGenerator, ModelSource) {
        let source = try resolve(reference, log: log)
        return (try generator(source, architecture: architecture), source)
    }

    /// The generator of an already resolved source.
    static func generator(_ source: ModelSource, architecture: String?) throws -> LoadedGenerator {
        let explicit = try architecture.map { try GeneratorArchitecture(name: $0) }
        guard source.kind == .generator else { throw CommandFailure(wrongKind(source, wanted: "a generator")) }
        return try LoadedGenerator.load(contentsOf: source.url, architecture: explicit ?? source.entry?.generatorArchitecture())
    }

    /// A model for `upscale`/`colorize` (`task`): a two-stage restoration model or an earlier one-stage latent-diffusion
    /// model, by file, registry name, or by default the bundled one.
    static func restoration(_ reference: String?, task: LatentDiffusionTask, bundled: String, log: (String) -> Void) throws
        -> (RestorationChoice, ModelSource) {
        let source = try resolve(reference ?? bundled, log: log)
        switch source.kind {
        case .restoration:
            let model = try RestorationModel.load(contentsOf: source.url)
            guard model.task == task else { throw CommandFailure(wrongKind(source, wanted: "a \(task.rawValue) model", found: model.task)) }
            return (.twoStage(model), source)
        case .latentDiffusion:
            let model = try LatentDiffusionModel.load(contentsOf: source.url)
            guard model.task == task else { throw CommandFailure(wrongKind(source, wanted: "a \(task.rawValue) model", found: model.task)) }
            return (.oneStage(model), source)
        case .generator, .diffusersFolder:
            throw CommandFailure(wrongKind(source, wanted: "a \(task.rawValue) model"))
        }
    }

    static func resolve(_ reference: String, log: (String) -> Void) throws -> ModelSource {
        let source = try ModelSource.resolve(reference, registry: { try ModelRegistry.locate() }, progress: log)
        if let notice = source.entry?.notice {
            // Always shown, even with --quiet: a placeholder must never pass for the real model.
            FileHandle.standardError.write(Data("note: \(source.displayName): \(notice)\n".utf8))
        }
        return source
    }

    /// "X is a latent-diffusion super-resolution model: use `stylize upscale --model X`".
    static func wrongKind(_ source: ModelSource, wanted: String, found: LatentDiffusionTask? = nil) -> String {
        let task = found ?? source.task
        let command: String
        switch (source.kind, task) {
        case (.generator, _): command = "stylize --model \(source.reference) INPUT... OUTPUT"
        case (_, .superResolution): command = "stylize upscale --model \(source.reference) INPUT... OUTPUT"
        case (_, _): command = "stylize colorize --model \(source.reference) INPUT... OUTPUT"
        }
        let what = source.kind == .generator ? "a generator" : "a \(task == .superResolution ? "super-resolution" : "colorization") model"
        return "\(source.displayName) is \(what), not \(wanted); run it with `\(command)`"
    }
}

/// What `upscale`/`colorize` run.
enum RestorationChoice {
    case twoStage(RestorationModel)
    case oneStage(LatentDiffusionModel)
}

/// A failure with a plain message (exit code 1).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
