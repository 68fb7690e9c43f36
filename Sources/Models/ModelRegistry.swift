import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One generator the registry knows: where its weights come from and how to build it.
public struct ModelEntry: Codable, Equatable, Sendable {
    public var name: String
    public var family: String
    public var architecture: String
    public var ngf: Int
    public var norm: String
    public var dropout: Bool
    public var input_nc: Int
    public var output_nc: Int
    /// Download address of official weights (absent for bundled models).
    public var url: String?
    /// `git hash-object` of the weights file, when known.
    public var git_blob_sha1: String?
    /// Path of bundled weights, relative to the registry's folder.
    public var file: String?
    public var preprocess: String?
    /// A note `stylize` prints when the model is used (for example: a placeholder).
    public var notice: String?

    public init(name: String, family: String, architecture: String, ngf: Int = 64, norm: String, dropout: Bool = false,
                input_nc: Int = 3, output_nc: Int = 3, url: String? = nil, git_blob_sha1: String? = nil, file: String? = nil,
                preprocess: String? = nil, notice: String? = nil) {
        self.name = name
        self.family = family
        self.architecture = architecture
        self.ngf = ngf
        self.norm = norm
        self.dropout = dropout
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.url = url
        self.git_blob_sha1 = git_blob_sha1
        self.file = file
        self.preprocess = preprocess
        self.notice = notice
    }

    /// `family/name`, unique in the registry.
    public var qualifiedName: String { family + "/" + name }

    /// The generator architecture this entry describes.
    public func generatorArchitecture() throws -> GeneratorArchitecture {
        try GeneratorArchitecture(name: architecture, filters: ngf, inputChannels: input_nc, outputChannels: output_nc,
                                  normalization: NormalizationKind(rawValue: norm), dropout: dropout)
    }
}

/// Errors finding or fetching a model; each says what to do next.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case registryNotFound(searched: [String])
    case unreadableRegistry(path: String, reason: String)
    case unknownModel(String, suggestions: [String])
    case ambiguous(String, candidates: [String])
    case downloadFailed(model: String, url: String, reason: String, destination: String)
    case checksumMismatch(model: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .registryNotFound(let searched):
            return "cannot find models/registry.json (looked in \(searched.joined(separator: ", "))); set STYLIZE_MODELS_DIR to the models folder"
        case .unreadableRegistry(let path, let reason): return "\(path): \(reason)"
        case .unknownModel(let name, let suggestions):
            return "no model named '\(name)'" + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.joined(separator: ", "))?")
                + " (`stylize models list` shows them all; a path to a .pth or .safetensors file works too)"
        case .ambiguous(let name, let candidates):
            return "'\(name)' names several models: \(candidates.joined(separator: ", ")); use one of those"
        case .downloadFailed(let model, let url, let reason, let destination):
            return "cannot download \(model) from \(url): \(reason).\nDownload that file yourself and save it as \(destination), or pass --model /path/to/weights.pth."
        case .checksumMismatch(let model, let expected, let found):
            return "the download of \(model) is damaged or different: git blob id \(found), expected \(expected); nothing was saved"
        }
    }
}

/// The model list in `models/registry.json`, and the user cache official weights are downloaded into.
public struct ModelRegistry {
    public let folder: URL
    public let entries: [ModelEntry]
    public let cache: URL

    /// Reads `registry.json` in `folder`.
    public init(folder: URL, cache: URL = ModelRegistry.defaultCache) throws {
        let path = folder.appendingPathComponent("registry.json")
        struct File: Codable { var models: [ModelEntry] }
        do {
            entries = try JSONDecoder().decode(File.self, from: Data(contentsOf: path)).models
        } catch {
            throw RegistryError.unreadableRegistry(path: path.path, reason: "\(error)")
        }
        self.folder = folder
        self.cache = cache
    }

    /// `$STYLIZE_CACHE`, else `$XDG_CACHE_HOME/stylize/models`, else `~/.cache/stylize/models`.
    public static var defaultCache: URL {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["STYLIZE_CACHE"] { return URL(fileURLWithPath: explicit) }
        let base = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("stylize/models")
    }

    /// Finds the registry: `$STYLIZE_MODELS_DIR`, else a `models/registry.json` in the executable's folder or
    /// any folder above it (a checkout's `.build/release/stylize` finds the checkout's `models/`).
    public static func locate(executable: URL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()) throws -> ModelRegistry {
        if let explicit = ProcessInfo.processInfo.environment["STYLIZE_MODELS_DIR"] {
            return try ModelRegistry(folder: URL(fileURLWithPath: explicit))
        }
        var searched: [String] = []
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<8 {
            let candidate = directory.appendingPathComponent("models")
            searched.append(candidate.path)
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("registry.json").path) {
                return try ModelRegistry(folder: candidate)
            }
            directory = directory.deletingLastPathComponent()
        }
        throw RegistryError.registryNotFound(searched: searched)
    }

    /// The entry for `name` or `family/name`.
    public func entry(named name: String) throws -> ModelEntry {
        if let exact = entries.first(where: { $0.qualifiedName == name }) { return exact }
        let matches = entries.filter { $0.name == name }
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 { throw RegistryError.ambiguous(name, candidates: matches.map(\.qualifiedName)) }
        let suggestions = entries.map(\.name).filter { $0.contains(name) || name.contains($0) }.prefix(3)
        throw RegistryError.unknownModel(name, suggestions: Array(suggestions))
    }

    /// Where an entry's weights are on disk (bundled file, or the cache location of a download).
    public func weightsLocation(for entry: ModelEntry) -> URL {
        if let file = entry.file { return folder.appendingPathComponent(file) }
        return cache.appendingPathComponent("\(entry.family)_\(entry.name).pth")
    }

    /// Whether the weights are present.
    public func isInstalled(_ entry: ModelEntry) -> Bool {
        FileManager.default.fileExists(atPath: weightsLocation(for: entry).path)
    }

    /// Downloads official weights into the cache unless present: verified against the git blob id when the
    /// registry has one, written atomically, so an interrupted download leaves nothing behind.
    @discardableResult
    public func fetch(_ entry: ModelEntry, progress: (String) -> Void = { _ in }) throws -> URL {
        let destination = weightsLocation(for: entry)
        if FileManager.default.fileExists(atPath: destination.path) { return destination }
        guard let address = entry.url, let url = URL(string: address) else {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: "(none)", reason: "the registry has no download address",
                                               destination: destination.path)
        }
        progress("downloading \(entry.qualifiedName) from \(address)")
        let data: Data
        do {
            data = try ModelRegistry.download(url)
        } catch {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "\(error)", destination: destination.path)
        }
        if let expected = entry.git_blob_sha1 {
            let found = SHA1.gitBlobID(data)
            guard found == expected else { throw RegistryError.checksumMismatch(model: entry.qualifiedName, expected: expected, found: found) }
        }
        do {
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: destination, options: .atomic)
        } catch {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "cannot write: \(error)",
                                               destination: destination.path)
        }
        return destination
    }

    struct HTTPStatus: Error, CustomStringConvertible {
        let code: Int
        var description: String { "HTTP status \(code)" }
    }

    /// GET `url` synchronously (60 s timeout).
    static func download(_ url: URL) throws -> Data {
        final class Box: @unchecked Sendable { var result: Result<Data, Error> = .failure(URLError(.unknown)) }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(error)
            } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                box.result = .failure(HTTPStatus(code: http.statusCode))
            } else {
                box.result = .success(data ?? Data())
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return try box.result.get()
    }
}
