import _TestSupport
import Datasets
import Foundation
import ImageIO
import Models
import Tensor
import Training
import XCTest

final class Pix2PixTrainerTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        // Smooth random colour fields; B is the colour inversion of A.
        let generator = RandomGenerator(seed: 21)
        for index in 0..<6 {
            let coarse = Tensor.randomUniform([1, 3, 4, 4], low: -1, high: 1, generator: generator)
            let a = Image(tensor: coarse.upsampled(height: 32, width: 32, mode: .bilinear))
            var b = a
            b.samples = a.samples.map { 255 - $0 }
            for (folder, image) in [("A", a), ("B", b)] {
                let url = root.appendingPathComponent("pairs/\(folder)/\(index).png")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try image.write(to: url)
            }
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func options(_ name: String, gan: Float) -> Pix2PixOptions {
        var options = Pix2PixOptions(name: name, checkpoints: root.appendingPathComponent("checkpoints"))
        options.architecture = GeneratorArchitecture(kind: .resnet, depth: 2, filters: 8, normalization: .instance)
        options.discriminatorFilters = 8
        options.lambdaGAN = gan
        options.learningRate = 2e-3
        options.batchSize = 2
        options.printEvery = 1000
        return options
    }

    func dataset() throws -> PairedFolderDataset {
        try PairedFolderDataset(root: root.appendingPathComponent("pairs"), preprocessing: Preprocessing(mode: .none, flip: true))
    }

    /// The generator learns the inversion: L1 on the training pairs falls well below where it started.
    func testLearnsAKnownMapping() throws {
        let trainer = Pix2PixTrainer(options: options("invert", gan: 0), dataset: try dataset(), workers: 1)
        var first: Float = 0, last: Float = 0
        let loader = DataLoader(dataset: try dataset(), batchSize: 6, shuffle: false)
        func evaluate() throws -> Float {
            let batch = try loader.batches(epoch: 0).nextBatch()!
            trainer.generator.eval()
            return withoutGradient { Tensor.l1Loss(trainer.generator(batch.a), batch.b!).item }
        }
        first = try evaluate()
        for epoch in 0..<60 {
            let iterator = DataLoader(dataset: try dataset(), batchSize: 2, seed: UInt64(epoch)).batches(epoch: epoch)
            while let batch = try iterator.nextBatch() { _ = trainer.step(batch) }
        }
        last = try evaluate()
        XCTAssertLessThan(last, first / 4, "L1 \(first) → \(last)")
        XCTAssertLessThan(last, 0.12)
    }

    /// Stopping after 3 iterations and resuming from the saved state reproduces the uninterrupted run.
    func testResumeReproducesTheUninterruptedRun() throws {
        func losses(_ trainer: Pix2PixTrainer) throws -> [Float] {
            let records = try String(contentsOf: trainer.directory.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
                .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return records.flatMap { [($0["G_L1"] as! NSNumber).floatValue, ($0["D"] as! NSNumber).floatValue] }
        }
        var whole = options("whole", gan: 1)
        whole.epochs = 2
        whole.decayEpochs = 1
        whole.printEvery = 1
        let uninterrupted = Pix2PixTrainer(options: whole, dataset: try dataset(), workers: 2)
        try uninterrupted.run(log: { _ in })
        XCTAssertEqual(uninterrupted.iterations, 9)

        var split = whole
        split.name = "split"
        split.maxIterations = 4
        try Pix2PixTrainer(options: split, dataset: try dataset(), workers: 1).run(log: { _ in })
        split.maxIterations = nil
        let resumed = Pix2PixTrainer(options: split, dataset: try dataset(), workers: 2)
        try resumed.resume()
        XCTAssertEqual(resumed.iterations, 4)
        try resumed.run(log: { _ in })
        XCTAssertEqual(try losses(resumed), try losses(uninterrupted))
        XCTAssertTrue(FileManager.default.fileExists(atPath: resumed.directory.appendingPathComponent("latest_net_G.safetensors").path))
        let reloaded = try LoadedGenerator.load(contentsOf: resumed.directory.appendingPathComponent("latest_net_G.safetensors"))
        XCTAssertEqual(reloaded.architecture.name, "resnet_2blocks")
    }
}
