import _TestSupport
import Foundation
import ModelHub
import Models
import NN
import Tensor
import XCTest

final class RegistryTests: XCTestCase {
    func testSHA1AndGitBlobIDs() {
        XCTAssertEqual(SHA1.hexDigest(Array("abc".utf8)), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(SHA1.hexDigest([UInt8]()), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(SHA1.hexDigest(Array(String(repeating: "a", count: 1000).utf8)), "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        XCTAssertEqual(SHA1.gitBlobID(Data("{}\n".utf8)), "0967ef424bce6791893e9a57bb952f80fd536e93")   // git hash-object
    }

    func testTheRegistryListsTheOfficialModels() throws {
        let registry = try ModelRegistry(folder: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models"))
        for name in ["apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra", "zebra2horse",
                     "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "cityscapes_photo2label",
                     "cityscapes_label2photo", "facades_photo2label", "iphone2dslr_flower", "edges2shoes", "day2night"] {
            XCTAssertNoThrow(try registry.entry(named: name), name)
        }
        for shared in ["sat2map", "map2sat", "facades_label2photo"] {
            XCTAssertThrowsError(try registry.entry(named: shared)) { error in
                XCTAssertEqual(error as? RegistryError, .ambiguous(shared, candidates: ["cyclegan/\(shared)", "pix2pix/\(shared)"]))
            }
            XCTAssertEqual(try registry.entry(named: "pix2pix/\(shared)").architecture, "unet_256")
            XCTAssertEqual(try registry.entry(named: "cyclegan/\(shared)").architecture, "resnet_9blocks")
        }
        XCTAssertEqual(try registry.entry(named: "style_monet").git_blob_sha1, "283b3f15edc9636048ea2a6b548e3161ccd545d0")
        XCTAssertThrowsError(try registry.entry(named: "style_picasso")) { error in
            XCTAssertTrue("\(error)".contains("style_picasso"))
        }
    }

    /// Fetch from an HTTP server on 127.0.0.1: verified, atomic, cached; a wrong checksum saves nothing.
    func testFetchVerifiesAndCaches() throws {
        let weights = try Data(contentsOf: fixturesDirectory.appendingPathComponent("checkpoints/resnet6_ngf2_dropout.zip.pth"))
        let server = try LocalHTTPServer(files: ["/models/tiny.pth": weights])
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var entry = ModelEntry(name: "tiny", family: "cyclegan", architecture: "resnet_6blocks", ngf: 2, norm: "instance", dropout: true,
                               input_nc: 3, output_nc: 3, url: server.url("/models/tiny.pth").absoluteString,
                               git_blob_sha1: SHA1.gitBlobID(weights), file: nil, preprocess: nil, notice: nil)
        let encoder = JSONEncoder()
        try Data(#"{"models": ["#.utf8 + encoder.encode(entry) + Data("]}".utf8)).write(to: folder.appendingPathComponent("registry.json"))
        let registry = try ModelRegistry(folder: folder, cache: folder.appendingPathComponent("cache"))
        XCTAssertFalse(registry.isInstalled(entry))
        let location = try registry.fetch(try registry.entry(named: "tiny"))
        XCTAssertEqual(try Data(contentsOf: location), weights)
        XCTAssertTrue(registry.isInstalled(entry))
        _ = try registry.fetch(entry)
        XCTAssertEqual(server.requestedPaths, ["/models/tiny.pth"], "a cached model is not downloaded again")
        let loaded = try LoadedGenerator.load(contentsOf: location, architecture: try entry.generatorArchitecture())
        XCTAssertEqual(loaded.architecture.name, "resnet_6blocks")

        entry.name = "tampered"
        entry.git_blob_sha1 = String(repeating: "0", count: 40)
        XCTAssertThrowsError(try registry.fetch(entry)) { error in
            guard case RegistryError.checksumMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(registry.isInstalled(entry))
        entry.name = "missing"
        entry.url = server.url("/models/missing.pth").absoluteString
        XCTAssertThrowsError(try registry.fetch(entry)) { error in
            XCTAssertTrue("\(error)".contains("404") && "\(error)".contains("cyclegan_missing.pth"), "\(error)")
        }
    }

    /// A folder entry (the published LDM super-resolution model's kind): each listed file fetched into the cache folder,
    /// the folder verified by loading it; a file already there is not fetched again; a folder that does not load is a
    /// damaged download naming the problem.
    func testFolderEntriesAreFetchedFileByFileAndVerified() throws {
        let source = fixturesDirectory.appendingPathComponent("ldm_sr_tiny")
        let names = ["scheduler/scheduler_config.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vqvae/config.json",
                     "vqvae/diffusion_pytorch_model.safetensors"]
        var files: [String: Data] = [:]
        for name in names { files["/repo/" + name] = try Data(contentsOf: source.appendingPathComponent(name)) }
        files["/broken/unet/config.json"] = Data(String(decoding: files["/repo/unet/config.json"]!, as: UTF8.self)
            .replacingOccurrences(of: "\"AttnDownBlock2D\"", with: "\"CrossAttnDownBlock2D\"").utf8)
        for name in names where name != "unet/config.json" { files["/broken/" + name] = files["/repo/" + name] }
        let server = try LocalHTTPServer(files: files)
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var entry = ModelEntry(name: "tiny_sr", family: "compvis", kind: .diffusersFolder, task: .superResolution, architecture: "ldm_super_resolution",
                               norm: "group", url: server.url("/repo/").absoluteString, files: names)
        try Data(#"{"models": ["#.utf8 + JSONEncoder().encode(entry) + Data("]}".utf8)).write(to: folder.appendingPathComponent("registry.json"))
        let registry = try ModelRegistry(folder: folder, cache: folder.appendingPathComponent("cache"))
        XCTAssertEqual(try registry.entry(named: "tiny_sr").files, names, "the files list survives the registry file")
        XCTAssertFalse(registry.isInstalled(entry))
        let location = try registry.fetch(entry)
        XCTAssertTrue(registry.isInstalled(entry))
        XCTAssertEqual(try LDMSuperResolutionModel.load(from: location).factor, 4)
        let requests = server.requestedPaths.count
        _ = try registry.fetch(entry)
        XCTAssertEqual(server.requestedPaths.count, requests, "a fetched folder is not downloaded again")
        entry.name = "broken_sr"
        entry.url = server.url("/broken/").absoluteString
        XCTAssertThrowsError(try registry.fetch(entry)) { error in
            XCTAssertTrue("\(error)".contains("CrossAttnDownBlock2D") && "\(error)".contains("delete that folder"), "\(error)")
        }
    }

    func testArchitectureDetectionFromKeys() throws {
        let directory = fixturesDirectory.appendingPathComponent("checkpoints")
        let cases: [(String, String, Int, NormalizationKind, Bool)] = [
            ("resnet9_ngf4.zip.pth", "resnet_9blocks", 4, .instance, false),
            ("resnet6_ngf2_dropout.legacy.pth", "resnet_6blocks", 2, .instance, true),
            ("resnet9_ngf4.official-style.pth", "resnet_9blocks", 4, .instance, false),
            ("unet256_ngf2.zip.pth", "unet_256", 2, .batch, false),
        ]
        for (file, name, filters, normalization, dropout) in cases {
            let detected = try GeneratorArchitecture.detect(from: try TorchCheckpoint.read(contentsOf: directory.appendingPathComponent(file)))
            XCTAssertEqual(detected.name, name, file)
            XCTAssertEqual(detected.filters, filters, file)
            XCTAssertEqual(detected.normalization, normalization, file)
            XCTAssertEqual(detected.dropout, dropout, file)
        }
        let unet128 = UnetGenerator(downsamplings: 7, filters: 2)
        XCTAssertEqual(try GeneratorArchitecture.detect(from: unet128.stateDictionary()).name, "unet_128")
        XCTAssertEqual(try GeneratorArchitecture.detect(from: ResnetGenerator(filters: 2, blocks: 9, normalization: .batch)
            .stateDictionary()).normalization, .batch)
        XCTAssertThrowsError(try GeneratorArchitecture.detect(from: [("weight", Tensor.zeros([1]))], path: "odd.pth")) { error in
            XCTAssertTrue("\(error)".contains("odd.pth"))
        }
    }
    /// STYLIZE_MODELS_DIR, then PREFIX/share/stylize/models beside an installed PREFIX/bin/stylize, then models/ in the
    /// executable's folder and above (a checkout); every place once, all listed when none has a registry.
    func testSearchPath() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let executable = root.appendingPathComponent("prefix/bin/stylize")
        let path = ModelRegistry.searchPath(environment: ["STYLIZE_MODELS_DIR": "/custom/models"], executable: executable).map(\.path)
        XCTAssertEqual(Array(path.prefix(3)), ["/custom/models", root.appendingPathComponent("prefix/share/stylize/models").path,
                                               root.appendingPathComponent("prefix/bin/models").path])
        XCTAssertEqual(Set(path).count, path.count, "each place once")
        XCTAssertThrowsError(try ModelRegistry.locate(environment: [:], executable: executable)) { error in
            XCTAssertTrue("\(error)".contains(root.appendingPathComponent("prefix/share/stylize/models").path) && "\(error)".contains("STYLIZE_MODELS_DIR"), "\(error)")
        }
        let installed = root.appendingPathComponent("prefix/share/stylize/models")
        try FileManager.default.createDirectory(at: installed, withIntermediateDirectories: true)
        try Data(#"{"models": []}"#.utf8).write(to: installed.appendingPathComponent("registry.json"))
        XCTAssertEqual(try ModelRegistry.locate(environment: [:], executable: executable).folder.path, installed.path)
    }

    /// Bundled restoration entries, typo suggestions by edit distance, and names resolved to files or registry
    /// entries with their kind.
    func testEntriesSuggestionsAndSources() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models")
        let registry = try ModelRegistry(folder: folder)
        XCTAssertEqual(try registry.entry(named: "upscale_x4").kind, .restoration)
        XCTAssertEqual(try registry.entry(named: "colorize").task, .colorization)
        XCTAssertEqual(registry.suggestions(for: "photo2monnet"), ["photo2monet"])
        XCTAssertEqual(registry.suggestions(for: "stylemonet").first, "style_monet")
        XCTAssertEqual(registry.suggestions(for: "qqqqqqqqqqqq"), [])
        let sr = try ModelSource.resolve("upscale_x4", registry: { registry })
        XCTAssertEqual(sr.kind, .restoration)
        XCTAssertEqual(sr.task, .superResolution)
        let byFile = try ModelSource.resolve(sr.url.path, registry: { XCTFail("a file needs no registry"); return registry })
        XCTAssertEqual(byFile.kind, .restoration)
        XCTAssertEqual(byFile.task, .superResolution)
        XCTAssertEqual(try ModelSource.resolve("stylize/photo2monet", registry: { registry }).kind, .generator)
        XCTAssertThrowsError(try ModelSource.resolve("/no/such/model.pth", registry: { registry })) { error in
            XCTAssertEqual(error as? ModelSourceError, .noSuchFile(path: "/no/such/model.pth"))
        }
    }

    /// A download without a checksum is still verified by loading it as its architecture: a damaged file is refused
    /// and nothing is saved; a size in the registry is checked too.
    func testDownloadsWithoutChecksumAreVerifiedByLoading() throws {
        let weights = try Data(contentsOf: fixturesDirectory.appendingPathComponent("checkpoints/resnet6_ngf2_dropout.zip.pth"))
        let server = try LocalHTTPServer(files: ["/good.pth": weights, "/cut.pth": weights.prefix(weights.count / 2)])
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let registry = try ModelRegistry(folder: try writeRegistry([], in: folder), cache: folder.appendingPathComponent("cache"))
        var entry = ModelEntry(name: "cut", family: "cyclegan", architecture: "resnet_6blocks", ngf: 2, norm: "instance", dropout: true,
                               url: server.url("/cut.pth").absoluteString)
        XCTAssertThrowsError(try registry.fetch(entry)) { error in
            guard case RegistryError.damagedDownload = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(registry.isInstalled(entry))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("cache").path), [], "no leftovers")
        entry.name = "sized"
        entry.url = server.url("/good.pth").absoluteString
        entry.bytes = weights.count + 1
        XCTAssertThrowsError(try registry.fetch(entry)) { error in XCTAssertTrue("\(error)".contains("expected \(weights.count + 1)"), "\(error)") }
        entry.bytes = weights.count
        XCTAssertEqual(try Data(contentsOf: try registry.fetch(entry)), weights)
    }

    func writeRegistry(_ entries: [ModelEntry], in folder: URL) throws -> URL {
        let data = try JSONEncoder().encode(["models": entries])
        try data.write(to: folder.appendingPathComponent("registry.json"))
        return folder
    }
}
