import Foundation
import Models
import NN

/// What a `--model NAME|PATH` argument names: a weights file on disk, found directly or through the registry.
public struct ModelSource: Sendable {
    /// The weights file.
    public let url: URL
    /// The registry entry, when the reference was a registry name.
    public let entry: ModelEntry?
    /// What the user wrote.
    public let reference: String
    /// Generator or latent-diffusion model (from the registry, or the file's metadata).
    public let kind: ModelKind
    /// For latent-diffusion models: what it does.
    public let task: LatentDiffusionTask?

    /// How the model is named in messages and in output manifests: the registry's `family/name`, or the file path.
    public var displayName: String { entry?.qualifiedName ?? url.path }

    /// Resolves `reference`: an existing file is used as is; a name is looked up in the registry (the registry is only
    /// read then), and official weights are downloaded into the cache on first use.
    ///
    /// - Throws: ``ModelSourceError/noSuchFile(path:)`` for a path that does not exist, ``RegistryError`` for unknown
    ///   names, failed downloads or checksums.
    public static func resolve(_ reference: String, registry: () throws -> ModelRegistry,
                               progress: (String) -> Void = { _ in }) throws -> ModelSource {
        let candidate = URL(fileURLWithPath: (reference as NSString).expandingTildeInPath)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw ModelSourceError.isFolder(path: candidate.path) }
            return try fromFile(candidate, reference: reference)
        }
        let explicitPath = ["pth", "safetensors", "pt", "ckpt"].contains(candidate.pathExtension.lowercased())
            || reference.hasPrefix("/") || reference.hasPrefix(".") || reference.hasPrefix("~")
            || reference.split(separator: "/").count > 2
        if explicitPath { throw ModelSourceError.noSuchFile(path: candidate.path) }
        let registry = try registry()
        let entry: ModelEntry
        do {
            entry = try registry.entry(named: reference)
        } catch RegistryError.unknownModel(let name, let suggestions) where reference.contains("/") {
            throw ModelSourceError.unknown(reference: name, suggestions: suggestions)
        }
        let weights = entry.file != nil || (entry.kind == .diffusersFolder && registry.isInstalled(entry))
            ? registry.weightsLocation(for: entry) : try registry.fetch(entry, progress: progress)
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw ModelSourceError.bundledFileMissing(model: entry.qualifiedName, path: weights.path)
        }
        return ModelSource(url: weights, entry: entry, reference: reference, kind: entry.kind ?? .generator, task: entry.task)
    }

    /// A weights file: its kind read from safetensors metadata (`.pth` files are generators).
    static func fromFile(_ url: URL, reference: String) throws -> ModelSource {
        var kind = ModelKind.generator, task: LatentDiffusionTask?
        if url.pathExtension.lowercased() == "safetensors", let metadata = try? Safetensors.metadata(contentsOf: url),
           let found = metadata["kind"].flatMap(ModelKind.init(rawValue:)), found != .generator {
            kind = found
            task = metadata["task"].flatMap(LatentDiffusionTask.init(rawValue:))
        }
        return ModelSource(url: url, entry: nil, reference: reference, kind: kind, task: task)
    }
}

/// Why a model reference cannot be used.
public enum ModelSourceError: Error, Equatable, CustomStringConvertible {
    case noSuchFile(path: String)
    case isFolder(path: String)
    case unknown(reference: String, suggestions: [String])
    case bundledFileMissing(model: String, path: String)

    public var description: String {
        switch self {
        case .noSuchFile(let path): return "\(path): no such model file"
        case .isFolder(let path): return "\(path): a folder, not a model file (.pth or .safetensors)"
        case .unknown(let reference, let suggestions):
            return "'\(reference)' is neither a model file nor a model name"
                + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.joined(separator: ", "))?")
                + " (`stylize models list` shows the names)"
        case .bundledFileMissing(let model, let path):
            return "\(path): the weights of the bundled model \(model) are missing (a partial install?)"
        }
    }
}
