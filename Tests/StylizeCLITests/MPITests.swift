import _TestSupport
import Foundation
import NN
import Tensor
import XCTest

/// Data-parallel training and sharded batch jobs under a real `mpirun` (Open MPI on loopback, 2 ranks; CI runs as
/// root, hence `--allow-run-as-root`). `tools/install-dependencies.sh` installs openmpi-bin; without it these fail.
final class MPITests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        for (offset, split) in ["trainA", "trainB"].enumerated() {
            try SmoothImages.write(count: 4, to: root.appendingPathComponent("data/\(split)"), width: 36, height: 36,
                                   seed: 21 + UInt64(offset), prefix: "image ")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    static var mpirun: URL? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// `mpirun -np ranks stylize arguments…`.
    func mpi(_ ranks: Int, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let launcher = try XCTUnwrap(MPITests.mpirun, "mpirun is missing: run tools/install-dependencies.sh (openmpi-bin)")
        return try StylizeBinary.run(arguments, launcher: (launcher, ["--allow-run-as-root", "--oversubscribe", "-np", String(ranks)]))
    }

    var checkpoints: String { root.appendingPathComponent("checkpoints").path }

    func state(_ name: String) throws -> [String: Tensor] {
        try Safetensors.read(contentsOf: root.appendingPathComponent("checkpoints/\(name)/latest_state.safetensors")).dictionary
    }

    /// Two ranks with batch 1 take the same steps as one process with batch 2: pix2pix, instance norm, no dropout, no
    /// augmentation, 3 epochs of 2 steps. Every logged loss agrees within 1e-5 and so does every weight. (Biases
    /// just before an instance norm are left out: their true gradient is zero, so Adam moves them by ±lr on rounding
    /// noise — differently in the two runs — and they change no output.)
    func testTwoRanksMatchOneProcessWithTheirCombinedBatch() throws {
        let data = root.appendingPathComponent("data")
        let common = ["--folder-a", data.appendingPathComponent("trainA").path, "--folder-b", data.appendingPathComponent("trainB").path,
                      "--net-g", "resnet_1blocks", "--ngf", "4", "--net-d", "n_layers", "--n-layers-d", "1", "--ndf", "4",
                      "--norm", "instance", "--no-dropout", "--preprocess", "none", "--no-flip", "--epochs", "2", "--epochs-decay", "1",
                      "--print-every", "1", "--checkpoints-dir", checkpoints, "--quiet", "--seed", "3"]
        let one = try StylizeBinary.run(["train", "pix2pix", "--name", "one", "--batch-size", "2"] + common)
        XCTAssertEqual(one.status, 0, one.error)
        let two = try mpi(2, ["train", "pix2pix", "--name", "two", "--batch-size", "1"] + common)
        XCTAssertEqual(two.status, 0, two.error + two.output)
        XCTAssertTrue(two.output.contains("data-parallel over 2 MPI ranks"), two.output)
        XCTAssertEqual(two.output.components(separatedBy: "finished 3 epochs").count, 2, "rank 0 alone prints: \(two.output)")

        let single = try lossRecords(in: root.appendingPathComponent("checkpoints/one"))
        let parallel = try lossRecords(in: root.appendingPathComponent("checkpoints/two"))
        XCTAssertEqual(single.count, 6)
        XCTAssertEqual(parallel.count, 6)
        for (expected, actual) in zip(single, parallel) {
            for name in ["G_GAN", "G_L1", "D_real", "D_fake"] {
                XCTAssertEqual(actual[name]!, expected[name]!, accuracy: 1e-5, "\(name) at iteration \(expected["iteration"]!)")
            }
        }
        let a = try state("one"), b = try state("two")
        let weights = a.keys.filter { ($0.hasPrefix("G.") || $0.hasPrefix("D.")) && !$0.hasSuffix(".bias") }
        XCTAssertGreaterThan(weights.count, 8)
        for key in weights {
            XCTAssertLessThan(maximumDifference(try XCTUnwrap(b[key], key), a[key]!), 1e-5, key)
        }
    }

    /// A 2-rank CycleGAN run stopped after 3 iterations and continued with 2 ranks logs the uninterrupted run's losses
    /// and ends with the same generators — each rank's own image pool is saved in the state (rank 1's as `rank1.…`).
    func testResumedTwoRankRunMatchesTheUninterruptedOne() throws {
        let common = ["--dataroot", root.appendingPathComponent("data").path, "--netG", "resnet_1blocks", "--ngf", "4", "--ndf", "4",
                      "--load-size", "36", "--crop-size", "32", "--pool-size", "2", "--epochs", "2", "--epochs-decay", "1",
                      "--print-every", "1", "--checkpoints-dir", checkpoints, "--quiet"]
        let whole = try mpi(2, ["train", "cyclegan", "--name", "whole"] + common)
        XCTAssertEqual(whole.status, 0, whole.error + whole.output)
        let first = try mpi(2, ["train", "cyclegan", "--name", "split", "--max-iters", "3"] + common)
        XCTAssertEqual(first.status, 0, first.error + first.output)
        XCTAssertTrue(first.output.contains("stopped after iteration 3"), first.output)
        XCTAssertNotNil(try state("split").keys.first { $0.hasPrefix("buffer.rank1.pool_A") }, "rank 1's pool is in the state")
        let rest = try mpi(2, ["train", "cyclegan", "--name", "split", "--continue"] + common)
        XCTAssertEqual(rest.status, 0, rest.error + rest.output)
        XCTAssertTrue(rest.output.contains("continuing at iteration 3"), rest.output)
        let expected = try lossRecords(in: root.appendingPathComponent("checkpoints/whole"))
        XCTAssertEqual(expected.count, 6)
        XCTAssertEqual(try lossRecords(in: root.appendingPathComponent("checkpoints/split")).map { $0.filter { $0.key != "seconds" } },
                       expected.map { $0.filter { $0.key != "seconds" } })
        for name in ["latest_net_G_A.safetensors", "latest_net_G_B.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("checkpoints/whole/\(name)")),
                           try Data(contentsOf: root.appendingPathComponent("checkpoints/split/\(name)")), name)
        }
    }

    /// Under mpirun each rank takes its part of the inputs and rank 0 prints the totals; `--shard i/3` run three times
    /// covers every input exactly once; a rerun of a part skips what exists.
    func testShardsCoverEveryInputOnce() throws {
        let inputs = root.appendingPathComponent("photos")
        try SmoothImages.write(count: 7, to: inputs, width: 12, height: 10, seed: 5, prefix: "photo ")
        let names = Set((0..<7).map { "photo \($0).png" })
        let out = root.appendingPathComponent("out")
        let job = try mpi(2, ["upscale", inputs.path, out.path, "--method", "bicubic", "--quiet"])
        XCTAssertEqual(job.status, 0, job.error + job.output)
        XCTAssertTrue(job.output.contains("all 2 ranks: done 7, skipped 0, failed 0"), job.output)
        XCTAssertTrue(job.output.contains("shard 1/2 (4 of 7 files)") && job.output.contains("shard 2/2 (3 of 7 files)"), job.output)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out.path).filter { !$0.hasPrefix(".") }), names)
        let manifest = try String(contentsOf: out.appendingPathComponent(".stylize-outputs.jsonl"), encoding: .utf8)
        XCTAssertEqual(manifest.split(separator: "\n").count, 7, "each output written once")

        var seen: [String] = []
        for part in 1...3 {
            let folder = root.appendingPathComponent("part\(part)")
            let run = try StylizeBinary.run(["upscale", inputs.path, folder.path, "--method", "bicubic", "--quiet", "--shard", "\(part)/3"])
            XCTAssertEqual(run.status, 0, run.error)
            seen += try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }
        }
        XCTAssertEqual(seen.count, 7)
        XCTAssertEqual(Set(seen), names)
        let again = try StylizeBinary.run(["upscale", inputs.path, root.appendingPathComponent("part2").path, "--method", "bicubic",
                                           "--quiet", "--shard", "2/3"])
        XCTAssertTrue(again.output.contains("done 0, skipped 2"), again.output)
        let bad = try StylizeBinary.run(["upscale", inputs.path, out.path, "--shard", "4/3"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.error.contains("--shard takes I/N"), bad.error)
    }
}
