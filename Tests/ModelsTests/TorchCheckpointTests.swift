import _TestSupport
import Foundation
import Models
import NN
import Tensor
import XCTest

/// Official-layout PyTorch checkpoints (both torch.save formats) load by key and reproduce PyTorch's
/// outputs; fixtures from tools/make_checkpoint_fixtures.py.
final class TorchCheckpointTests: XCTestCase {
    let directory = fixturesDirectory.appendingPathComponent("checkpoints")

    func expected(_ name: String) throws -> Tensor {
        try Safetensors.read(contentsOf: directory.appendingPathComponent("expected.safetensors")).tensor(name).copied()
    }

    func makeGenerator(_ name: String) -> Module {
        switch name {
        case "resnet9_ngf4": return ResnetGenerator(filters: 4, blocks: 9)
        case "resnet6_ngf2_dropout": return ResnetGenerator(filters: 2, blocks: 6, dropout: true)
        default: return UnetGenerator(downsamplings: 8, filters: 2, normalization: .batch, dropout: true)
        }
    }

    func testParityWithPyTorchInBothFormats() throws {
        for name in ["resnet9_ngf4", "resnet6_ngf2_dropout", "unet256_ngf2"] {
            for format in ["zip", "legacy"] {
                let url = directory.appendingPathComponent("\(name).\(format).pth")
                let entries = try TorchCheckpoint.read(contentsOf: url)
                let generator = makeGenerator(name)
                try generator.load(torchStateDictionary: entries)
                generator.eval()
                let output = withoutGradient { generator(try! expected("\(name).input")) }
                let reference = try expected("\(name).output")
                XCTAssertEqual(output.shape, reference.shape)
                XCTAssertLessThanOrEqual(maximumDifference(output, reference), 1e-4, "\(name) \(format)")
            }
        }
    }

    func testOfficialStyleFileWithInstanceNormStatisticsAndModulePrefix() throws {
        let entries = try TorchCheckpoint.read(contentsOf: directory.appendingPathComponent("resnet9_ngf4.official-style.pth"))
        XCTAssertTrue(entries.contains { $0.name.hasPrefix("module.") && $0.name.hasSuffix(".running_mean") })
        let generator = ResnetGenerator(filters: 4, blocks: 9)
        try generator.load(torchStateDictionary: entries)
        generator.eval()
        let output = withoutGradient { generator(try! expected("resnet9_ngf4.input")) }
        XCTAssertLessThanOrEqual(maximumDifference(output, try expected("resnet9_ngf4.output")), 1e-4)
        // A checkpoint for another architecture fails by key, naming one.
        XCTAssertThrowsError(try UnetGenerator(filters: 2).load(torchStateDictionary: entries)) { error in
            XCTAssertTrue("\(error)".contains("model."), "\(error)")
        }
    }

    func testMaliciousPickleIsRefusedNotExecuted() {
        let url = directory.appendingPathComponent("malicious.pth")
        XCTAssertThrowsError(try TorchCheckpoint.read(contentsOf: url)) { error in
            guard case CheckpointError.refused(let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("system"), reason)
        }
    }

    func testDamagedCheckpointsAreErrorsNotCrashes() throws {
        let generator = RandomGenerator(seed: 17)
        var rejected = 0
        for name in ["resnet6_ngf2_dropout.zip.pth", "resnet6_ngf2_dropout.legacy.pth"] {
            let original = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            for trial in 0..<120 {
                var bytes = original
                if trial % 2 == 0 {
                    bytes = Array(bytes.prefix(generator.nextInt(below: bytes.count)))
                } else {
                    for _ in 0..<3 { bytes[generator.nextInt(below: bytes.count)] = UInt8(truncatingIfNeeded: generator.next()) }
                }
                do {
                    _ = try TorchCheckpoint.decode(bytes, path: "\(name)#\(trial)")
                } catch let error as CheckpointError {
                    XCTAssertTrue("\(error)".contains("\(name)#\(trial)"), "\(error)")
                    rejected += 1
                }
            }
        }
        XCTAssertGreaterThan(rejected, 100)
        XCTAssertThrowsError(try TorchCheckpoint.decode(Array("not a checkpoint".utf8), path: "text.pth"))
    }
}
