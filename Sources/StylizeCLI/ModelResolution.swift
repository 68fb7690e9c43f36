import Foundation
import Models

/// Turns `--model NAME|PATH` into a loaded generator: a path to `.pth`/`.safetensors` weights, or a
/// registry name (bundled, or official weights fetched into the cache on first use).
enum ModelResolution {
    static func load(_ reference: String, architecture: String?, log: (String) -> Void) throws -> LoadedGenerator {
        let explicit = try architecture.map { try GeneratorArchitecture(name: $0) }
        let candidate = URL(fileURLWithPath: reference)
        let looksLikePath = reference.contains("/") || ["pth", "safetensors"].contains(candidate.pathExtension.lowercased())
        if looksLikePath || FileManager.default.fileExists(atPath: candidate.path) {
            guard FileManager.default.fileExists(atPath: candidate.path) else {
                throw ValidationFailure("\(candidate.path): no such model file")
            }
            return try LoadedGenerator.load(contentsOf: candidate, architecture: explicit)
        }
        let registry = try ModelRegistry.locate()
        let entry = try registry.entry(named: reference)
        if let notice = entry.notice {
            // Always shown, even with --quiet: a placeholder must never pass for the real model.
            FileHandle.standardError.write(Data("note: \(entry.qualifiedName): \(notice)\n".utf8))
        }
        let weights = entry.file != nil ? registry.weightsLocation(for: entry) : try registry.fetch(entry, progress: log)
        return try LoadedGenerator.load(contentsOf: weights, architecture: explicit ?? entry.generatorArchitecture())
    }
}

/// A user-facing failure with a plain message.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
