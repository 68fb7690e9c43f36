import Datasets
import Distributed
import Foundation
import ImageIO
import SafeFiles

/// One image to process and where its result goes.
struct TranslationJob: Sendable {
    let input: URL
    let output: URL
    /// The output name relative to the output folder (for messages and the manifest).
    let name: String
}

/// Why a batch cannot start; each names the paths involved. Nothing has been written when one is thrown.
enum BatchPlanError: Error, Equatable, CustomStringConvertible {
    case missingInput(String)
    case notAnImageFile(String)
    case outputIsAFile(String)
    case outputIsAnInputFolder(output: String, input: String)
    case outputIsAnInput(output: String, input: String)
    case wouldReplaceAUserFile(output: String, folder: String)
    case sameOutput(first: String, second: String, output: String)

    var description: String {
        switch self {
        case .missingInput(let path): return "\(path): no such file or folder"
        case .notAnImageFile(let path): return "\(path): not a .png, .jpg or .jpeg file"
        case .outputIsAFile(let path): return "\(path): the output must be a folder, and this is a file"
        case .outputIsAnInputFolder(let output, let input):
            return "the output folder \(output) is the input folder \(input) (the same folder, through a link or another path); "
                + "choose another output folder — your originals are never replaced"
        case .outputIsAnInput(let output, let input):
            return "\(output) would replace the input \(input) (the same file, through a link or another path); "
                + "choose another output folder — your originals are never replaced"
        case .wouldReplaceAUserFile(let output, let folder):
            return "\(output) exists, was not written by stylize and lies inside the input folder \(folder); refusing to replace it "
                + "(choose an output folder outside the inputs)"
        case .sameOutput(let first, let second, let output): return "\(first) and \(second) would both write \(output)"
        }
    }
}

/// The jobs of a batch run, checked before anything is written: inputs are files and folders (folders keep their
/// subfolder layout with `recursive`); paths are compared resolved (links, `..`) and by file identity, so no output can
/// ever be an input; files inside the output folder are not inputs.
struct TranslationPlan {
    var jobs: [TranslationJob] = []
    /// The part of the inputs `jobs` holds (``restrict(to:)``), and how many jobs all parts hold.
    var shard = Shard.all
    var allJobs = 0
    /// Image files inside the output folder, not taken as inputs.
    var excluded = 0
    /// Files skipped because stylize cannot read their format, by extension (`webp` → 2).
    var unsupported: [String: Int] = [:]
    /// Resolved input folders (for the check that an existing output is not a user's file inside one).
    var inputFolders: [URL] = []

    /// Keeps the jobs of `part` (after the checks, which cover every input).
    mutating func restrict(to part: Shard) {
        shard = part
        allJobs = jobs.count
        jobs = part.part(of: jobs)
    }

    static func make(inputs: [String], output: URL, recursive: Bool, format: ImageFormat?) throws -> TranslationPlan {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw BatchPlanError.outputIsAFile(output.path)
        }
        let resolvedOutput = output.fullyResolved
        var plan = TranslationPlan()
        var inputIdentities: [FileIdentity: String] = [:]
        var inputPaths: [String: String] = [:]
        for input in inputs {
            let url = URL(fileURLWithPath: input).standardizedFileURL
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw BatchPlanError.missingInput(input)
            }
            let resolved = url.fullyResolved
            if isDirectory.boolValue {
                if resolved.path == resolvedOutput.path || FileIdentity(path: resolved.path) == FileIdentity(path: resolvedOutput.path) {
                    throw BatchPlanError.outputIsAnInputFolder(output: output.path, input: input)
                }
                plan.inputFolders.append(resolved)
                let listing = ImageFolder.listing(url, recursive: recursive)
                for (key, count) in listing.unsupported { plan.unsupported[key, default: 0] += count }
                for file in listing.images {
                    let resolvedFile = file.fullyResolved
                    if resolvedFile.isInside(resolvedOutput) { plan.excluded += 1; continue }
                    let relative = String(file.path.dropFirst(url.path.count + 1))
                    plan.jobs.append(job(for: file, relative: relative, output: output, format: format))
                    inputPaths[resolvedFile.path] = file.path
                    if let identity = FileIdentity(path: file.path) { inputIdentities[identity] = file.path }
                }
            } else {
                guard ImageFolder.extensions.contains(url.pathExtension.lowercased()) else { throw BatchPlanError.notAnImageFile(input) }
                plan.jobs.append(job(for: url, relative: url.lastPathComponent, output: output, format: format))
                inputPaths[resolved.path] = url.path
                if let identity = FileIdentity(path: url.path) { inputIdentities[identity] = url.path }
            }
        }
        var seen: [String: String] = [:]
        for job in plan.jobs {
            let target = resolvedOutput.appendingPathComponent(job.name)
            if let input = inputPaths[target.fullyResolved.path] {
                throw BatchPlanError.outputIsAnInput(output: job.output.path, input: input)
            }
            if let identity = FileIdentity(path: job.output.path), let input = inputIdentities[identity] {
                throw BatchPlanError.outputIsAnInput(output: job.output.path, input: input)
            }
            if let other = seen[target.path] {
                throw BatchPlanError.sameOutput(first: other, second: job.input.path, output: job.output.path)
            }
            seen[target.path] = job.input.path
        }
        return plan
    }

    static func job(for file: URL, relative: String, output: URL, format: ImageFormat?) -> TranslationJob {
        var name = relative
        if let format {
            name = (relative as NSString).deletingPathExtension + (format == .png ? ".png" : ".jpg")
        }
        return TranslationJob(input: file, output: output.appendingPathComponent(name), name: name)
    }

    /// With `--overwrite`: refuses to replace an existing file that lies inside an input folder unless the manifest
    /// says stylize wrote it (it may be one of the user's photos).
    func checkOverwrites(manifest: OutputManifest) throws {
        for job in jobs where FileManager.default.fileExists(atPath: job.output.path) && manifest.records[job.name] == nil {
            let resolved = job.output.fullyResolved
            if let folder = inputFolders.first(where: { resolved.isInside($0) }) {
                throw BatchPlanError.wouldReplaceAUserFile(output: job.output.path, folder: folder.path)
            }
        }
    }

    /// "2 .webp, 1 .tif" for the summary.
    var unsupportedSummary: String? {
        guard !unsupported.isEmpty else { return nil }
        return unsupported.sorted { $0.key < $1.key }.map { "\($0.value) .\($0.key)" }.joined(separator: ", ")
    }
}

/// What stylize wrote into an output folder: `.stylize-outputs.jsonl`, one line per written file with the model and
/// settings that made it. Appended after each write (a killed run loses at most its last line), read at the next run so
/// that outputs of a different model are not silently taken as done, and so that stylize never replaces a file it did
/// not write inside an input folder.
final class OutputManifest: @unchecked Sendable {
    static let fileName = ".stylize-outputs.jsonl"

    struct Record: Codable, Equatable {
        var file: String
        var model: String
        var settings: String
    }

    let url: URL
    private(set) var records: [String: Record] = [:]
    private let lock = NSLock()

    /// Reads the manifest of `folder` (none yet: empty). Unreadable lines are ignored.
    init(folder: URL) {
        url = folder.appendingPathComponent(Self.fileName)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            if let record = try? JSONDecoder().decode(Record.self, from: Data(line.utf8)) { records[record.file] = record }
        }
    }

    /// Appends a record for a file just written.
    func append(_ record: Record) throws {
        lock.lock()
        defer { lock.unlock() }
        records[record.file] = record
        guard var line = try? JSONEncoder().encode(record) else { return }
        line.append(0x0A)
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileProblem(path: url.path, errno: errno) }
        defer { close(descriptor) }
        let written = line.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress!, $0.count) }
        if written != line.count { throw FileProblem(path: url.path, errno: errno) }
    }
}
