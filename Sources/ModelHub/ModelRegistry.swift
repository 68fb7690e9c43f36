import Console
import Foundation
import Models
import SafeFiles

/// What a registry entry is: a CycleGAN/pix2pix generator, or a latent-diffusion model (autoencoder + UNet).
public enum ModelKind: String, Codable, Sendable {
    case generator
    /// A one-stage latent-diffusion model (DDIM from noise), the earlier bundled kind.
    case latentDiffusion = "latent_diffusion"
    /// A two-stage restoration model: an estimator, optionally with a latent flow (`upscale`, `colorize`).
    case restoration
    /// A diffusers folder of the published LDM super-resolution model (`unet/`, `vqvae/`, `scheduler/`): several files.
    case diffusersFolder = "diffusers_folder"
}

/// One model the registry knows: where its weights come from and how to build it.
public struct ModelEntry: Codable, Equatable, Sendable {
    public var name: String
    public var family: String
    /// nil in the file means a generator.
    public var kind: ModelKind?
    /// For latent-diffusion models: what it does.
    public var task: LatentDiffusionTask?
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
    /// Size of the weights file in bytes, when known.
    public var bytes: Int?
    /// Path of bundled weights, relative to the registry's folder.
    public var file: String?
    public var preprocess: String?
    /// A note `stylize` prints when the model is used (for example: a placeholder).
    public var notice: String?
    /// One line about the model, shown by `stylize models list`.
    public var about: String?
    /// For a ``ModelKind/diffusersFolder``: the files to fetch, relative to `url` (which ends with `/`) and to the folder.
    public var files: [String]?

    public init(name: String, family: String, kind: ModelKind? = nil, task: LatentDiffusionTask? = nil, architecture: String, ngf: Int = 64,
                norm: String, dropout: Bool = false, input_nc: Int = 3, output_nc: Int = 3, url: String? = nil,
                git_blob_sha1: String? = nil, bytes: Int? = nil, file: String? = nil, preprocess: String? = nil,
                notice: String? = nil, about: String? = nil, files: [String]? = nil) {
        self.name = name
        self.family = family
        self.kind = kind
        self.task = task
        self.architecture = architecture
        self.ngf = ngf
        self.norm = norm
        self.dropout = dropout
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.url = url
        self.git_blob_sha1 = git_blob_sha1
        self.bytes = bytes
        self.file = file
        self.preprocess = preprocess
        self.notice = notice
        self.about = about
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case name, family, kind, task, architecture, ngf, norm, dropout, input_nc, output_nc, url, git_blob_sha1, bytes, file
        case preprocess, notice, about, files
    }

    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try values.decode(String.self, forKey: .name), family: try values.decode(String.self, forKey: .family),
                  kind: try values.decodeIfPresent(ModelKind.self, forKey: .kind),
                  task: try values.decodeIfPresent(LatentDiffusionTask.self, forKey: .task),
                  architecture: try values.decodeIfPresent(String.self, forKey: .architecture) ?? "latent_diffusion",
                  ngf: try values.decodeIfPresent(Int.self, forKey: .ngf) ?? 64,
                  norm: try values.decodeIfPresent(String.self, forKey: .norm) ?? "instance",
                  dropout: try values.decodeIfPresent(Bool.self, forKey: .dropout) ?? false,
                  input_nc: try values.decodeIfPresent(Int.self, forKey: .input_nc) ?? 3,
                  output_nc: try values.decodeIfPresent(Int.self, forKey: .output_nc) ?? 3,
                  url: try values.decodeIfPresent(String.self, forKey: .url),
                  git_blob_sha1: try values.decodeIfPresent(String.self, forKey: .git_blob_sha1),
                  bytes: try values.decodeIfPresent(Int.self, forKey: .bytes),
                  file: try values.decodeIfPresent(String.self, forKey: .file),
                  preprocess: try values.decodeIfPresent(String.self, forKey: .preprocess),
                  notice: try values.decodeIfPresent(String.self, forKey: .notice),
                  about: try values.decodeIfPresent(String.self, forKey: .about),
                  files: try values.decodeIfPresent([String].self, forKey: .files))
    }

    /// `family/name`, unique in the registry.
    public var qualifiedName: String { family + "/" + name }

    /// Whether this is a generator (what `stylize apply` runs).
    public var isGenerator: Bool { (kind ?? .generator) == .generator }

    /// A short description of what the model is: `resnet_9blocks ngf 64`, `latent diffusion, sr`.
    public var summary: String {
        switch kind ?? .generator {
        case .generator: return "\(architecture) ngf \(ngf)"
        case .latentDiffusion: return "latent diffusion, \(task?.rawValue ?? "?")"
        case .restoration: return "two-stage \(task?.rawValue ?? "?")"
        case .diffusersFolder: return "diffusers latent diffusion, \(task?.rawValue ?? "?")"
        }
    }

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
    case damagedDownload(model: String, url: String, reason: String)
    /// A fetched folder that does not load; its files stay in `folder` (delete it to fetch again).
    case damagedFolder(model: String, folder: String, reason: String)

    public var description: String {
        switch self {
        case .registryNotFound(let searched):
            return "cannot find the models folder (registry.json); looked in: \(searched.joined(separator: ", ")). "
                + "Set STYLIZE_MODELS_DIR to the models folder, or install with tools/install.sh"
        case .unreadableRegistry(let path, let reason): return "\(path): \(reason)"
        case .unknownModel(let name, let suggestions):
            return "no model named '\(name)'" + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.joined(separator: ", "))?")
                + " (`stylize models list` shows them all; a path to a .pth or .safetensors file works too)"
        case .ambiguous(let name, let candidates):
            return "'\(name)' names several models: \(candidates.joined(separator: ", ")); use one of those"
        case .downloadFailed(let model, let url, let reason, let destination):
            return "cannot download \(model) from \(url): \(reason). Download that file yourself and save it as \(destination), "
                + "or pass the path of the weights file as the model"
        case .checksumMismatch(let model, let expected, let found):
            return "the download of \(model) is damaged or different: git blob id \(found), expected \(expected); nothing was saved"
        case .damagedDownload(let model, let url, let reason):
            return "the download of \(model) from \(url) is not a usable checkpoint (\(reason)); nothing was saved"
        case .damagedFolder(let model, let folder, let reason):
            return "the files of \(model) in \(folder) do not load (\(reason)); delete that folder to fetch them again"
        }
    }
}

/// The model list in `registry.json`, and the user cache official weights are downloaded into.
public struct ModelRegistry: Sendable {
    public let folder: URL
    public let entries: [ModelEntry]
    public let cache: URL

    /// Reads `registry.json` in `folder`.
    public init(folder: URL, cache: URL = ModelRegistry.defaultCache()) throws {
        let path = folder.appendingPathComponent("registry.json")
        struct File: Codable { var models: [ModelEntry] }
        do {
            entries = try JSONDecoder().decode(File.self, from: Data(contentsOf: path)).models
        } catch {
            throw RegistryError.unreadableRegistry(path: path.path, reason: FileProblem.sentence(for: error))
        }
        self.folder = folder
        self.cache = cache
    }

    /// `$STYLIZE_CACHE`, else `$XDG_CACHE_HOME/stylize/models`, else `~/.cache/stylize/models`.
    public static func defaultCache(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit = environment["STYLIZE_CACHE"] { return URL(fileURLWithPath: explicit) }
        let base = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("stylize/models")
    }

    /// The running program's real file (`/proc/self/exe`, links resolved), whatever `argv[0]` says: a symbolic
    /// link on `PATH` gives just `stylize`.
    public static var runningExecutable: URL {
        if let real = realpath("/proc/self/exe", nil) {
            defer { free(real) }
            return URL(fileURLWithPath: String(cString: real))
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).fullyResolved
    }

    /// Where the models folder is looked for, in order (each place once):
    /// 1. `$STYLIZE_MODELS_DIR`;
    /// 2. `PREFIX/share/stylize/models` for an executable installed as `PREFIX/bin/stylize` (`tools/install.sh`);
    /// 3. `models/` in the executable's folder or any folder above it (a checkout's `.build/release/stylize`).
    public static func searchPath(environment: [String: String] = ProcessInfo.processInfo.environment,
                                  executable: URL = ModelRegistry.runningExecutable) -> [URL] {
        var candidates: [URL] = []
        if let explicit = environment["STYLIZE_MODELS_DIR"], !explicit.isEmpty { candidates.append(URL(fileURLWithPath: explicit)) }
        let binFolder = executable.deletingLastPathComponent()
        candidates.append(binFolder.deletingLastPathComponent().appendingPathComponent("share/stylize/models"))
        var directory = binFolder
        for _ in 0..<8 {
            candidates.append(directory.appendingPathComponent("models"))
            if directory.path == "/" { break }
            directory = directory.deletingLastPathComponent()
        }
        var seen = Set<String>()
        return candidates.map(\.standardizedFileURL).filter { seen.insert($0.path).inserted }
    }

    /// The first folder of ``searchPath(environment:executable:)`` holding a `registry.json`.
    ///
    /// - Throws: ``RegistryError/registryNotFound(searched:)`` listing every place looked in.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              executable: URL = ModelRegistry.runningExecutable) throws -> ModelRegistry {
        let candidates = searchPath(environment: environment, executable: executable)
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("registry.json").path) {
            return try ModelRegistry(folder: candidate, cache: defaultCache(environment: environment))
        }
        throw RegistryError.registryNotFound(searched: candidates.map(\.path))
    }

    /// The entry for `name` or `family/name` (any letter case).
    public func entry(named name: String) throws -> ModelEntry {
        if let exact = entries.first(where: { $0.qualifiedName == name }) { return exact }
        var matches = entries.filter { $0.name == name }
        if matches.isEmpty { matches = entries.filter { $0.name.lowercased() == name.lowercased() || $0.qualifiedName.lowercased() == name.lowercased() } }
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 { throw RegistryError.ambiguous(name, candidates: matches.map(\.qualifiedName)) }
        throw RegistryError.unknownModel(name, suggestions: suggestions(for: name))
    }

    /// Up to three names close to `name`: by edit distance (typos like `photo2monnet`) or containment.
    public func suggestions(for name: String) -> [String] {
        let query = name.lowercased()
        let bare = query.split(separator: "/").last.map(String.init) ?? query
        let scored = entries.map { entry -> (String, Int) in
            let candidate = entry.name.lowercased()
            var distance = editDistance(bare, candidate)
            if candidate.contains(bare) || bare.contains(candidate) { distance = min(distance, 1) }
            return (entry.name, distance)
        }
        let limit = max(2, bare.count / 4)
        var seen = Set<String>()
        return scored.filter { $0.1 <= limit }.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            .map(\.0).filter { seen.insert($0).inserted }.prefix(3).map { $0 }
    }

    /// Where an entry's weights are on disk (bundled file, the cache location of a download, or a folder of them).
    public func weightsLocation(for entry: ModelEntry) -> URL {
        if let file = entry.file { return folder.appendingPathComponent(file) }
        if entry.kind == .diffusersFolder { return cache.appendingPathComponent("\(entry.family)_\(entry.name)", isDirectory: true) }
        return cache.appendingPathComponent("\(entry.family)_\(entry.name).pth")
    }

    /// Whether the weights are present (every file of a folder entry).
    public func isInstalled(_ entry: ModelEntry) -> Bool {
        let location = weightsLocation(for: entry)
        if entry.kind == .diffusersFolder {
            return (entry.files ?? []).allSatisfy { FileManager.default.fileExists(atPath: location.appendingPathComponent($0).path) }
        }
        return FileManager.default.fileExists(atPath: location.path)
    }

    /// Downloads each file of a folder entry that is not there yet (atomically, one by one, so an interrupted fetch
    /// resumes where it stopped), then verifies the folder by loading it as the published super-resolution model; a
    /// folder that does not load is named in the error and its files are kept for inspection.
    func fetchFolder(_ entry: ModelEntry, progress: (String) -> Void) throws -> URL {
        let destination = weightsLocation(for: entry)
        guard let base = entry.url, let files = entry.files, !files.isEmpty else {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: entry.url ?? "(none)", reason: "the registry lists no files",
                                               destination: destination.path)
        }
        for file in files {
            let target = destination.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: target.path) { continue }
            let address = base + file
            guard let url = URL(string: address) else {
                throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "not an address", destination: target.path)
            }
            progress("downloading \(entry.qualifiedName): \(file)")
            do {
                let (data, _) = try ModelDownload.get(url, progress: progress)
                try Folder.create(target.deletingLastPathComponent())
                try AtomicFile.write(data, to: target)
            } catch {
                throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "\(error)", destination: target.path)
            }
        }
        do {
            _ = try LDMSuperResolutionModel.load(from: destination)
        } catch {
            throw RegistryError.damagedFolder(model: entry.qualifiedName, folder: destination.path, reason: "\(error)")
        }
        return destination
    }

    /// Downloads official weights into the cache unless present, and verifies them: against the git blob id and size
    /// when the registry has them, and always by loading them as the entry's architecture, so a truncated or wrong file
    /// is never saved. Written atomically: an interrupted download leaves nothing behind. An `http://` address is tried
    /// as `https://` first (loopback addresses excepted).
    @discardableResult
    public func fetch(_ entry: ModelEntry, progress: (String) -> Void = { _ in }) throws -> URL {
        if entry.kind == .diffusersFolder { return try fetchFolder(entry, progress: progress) }
        let destination = weightsLocation(for: entry)
        if FileManager.default.fileExists(atPath: destination.path) { return destination }
        guard let address = entry.url, let url = URL(string: address) else {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: "(none)", reason: "the registry has no download address",
                                               destination: destination.path)
        }
        progress("downloading \(entry.qualifiedName) from \(address)")
        let data: Data
        let used: URL
        do {
            (data, used) = try ModelDownload.get(url, progress: progress)
        } catch {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "\(error)", destination: destination.path)
        }
        if let expected = entry.bytes, data.count != expected {
            throw RegistryError.damagedDownload(model: entry.qualifiedName, url: used.absoluteString,
                                                reason: "\(data.count) bytes, expected \(expected)")
        }
        if let expected = entry.git_blob_sha1 {
            let found = SHA1.gitBlobID(data)
            guard found == expected else { throw RegistryError.checksumMismatch(model: entry.qualifiedName, expected: expected, found: found) }
        }
        do {
            try Folder.create(destination.deletingLastPathComponent())
        } catch {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "cannot save it: \(error)",
                                               destination: destination.path)
        }
        // Verify by loading before the file takes its name: a damaged download never sits in the cache.
        let staged = AtomicFile.temporaryURL(for: destination).appendingPathExtension("pth")
        defer { try? FileManager.default.removeItem(at: staged) }
        do {
            try AtomicFile.write(data, to: staged)
            if entry.isGenerator {
                _ = try LoadedGenerator.load(contentsOf: staged, architecture: try entry.generatorArchitecture())
            }
            try AtomicFile.write(data, to: destination)
        } catch let problem as FileProblem {
            throw RegistryError.downloadFailed(model: entry.qualifiedName, url: address, reason: "cannot save it: \(problem)",
                                               destination: destination.path)
        } catch {
            throw RegistryError.damagedDownload(model: entry.qualifiedName, url: used.absoluteString, reason: "\(error)")
        }
        return destination
    }
}
