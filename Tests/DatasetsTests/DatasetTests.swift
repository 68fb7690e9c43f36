import _TestSupport
import Datasets
import Foundation
import ImageIO
import Tensor
import XCTest

/// Builds small image folders on disk for each test.
final class DatasetTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// A `width × height` RGB image whose red channel encodes `tag`, green x, blue y.
    func image(_ tag: Int, width: Int = 40, height: Int = 30) -> Image {
        var result = Image(width: width, height: height, channels: 3, repeating: 0)
        for y in 0..<height {
            for x in 0..<width {
                result[x, y, 0] = UInt16(tag)
                result[x, y, 1] = UInt16(x * 255 / max(width - 1, 1))
                result[x, y, 2] = UInt16(y * 255 / max(height - 1, 1))
            }
        }
        return result
    }

    @discardableResult
    func write(_ image: Image, _ relative: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try image.write(to: url)
        return url
    }

    func testListingIsRecursiveSortedCaseInsensitiveAndSkipsHiddenFiles() throws {
        try write(image(1), "set/b.png")
        try write(image(2), "set/A.JPG")
        try write(image(3), "set/sub/c.jpeg")
        try write(image(4), "set/.hidden.png")
        try write(image(5), "set/.cache/d.png")
        try Data("x".utf8).write(to: root.appendingPathComponent("set/notes.txt"))
        let names = try ImageFolder.list(root.appendingPathComponent("set")).map { String($0.path.dropFirst(root.path.count + 5)) }
        XCTAssertEqual(names, ["A.JPG", "b.png", "sub/c.jpeg"])
        XCTAssertEqual(try ImageFolder.list(root.appendingPathComponent("set"), recursive: false).count, 2)
        XCTAssertThrowsError(try ImageFolder.list(root.appendingPathComponent("missing"))) { error in
            XCTAssertEqual(error as? DatasetError, .missingFolder(path: self.root.appendingPathComponent("missing").path))
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder.list(root.appendingPathComponent("empty")))
    }

    func testPreprocessModesGiveTheReferenceSizes() {
        let source = image(7, width: 300, height: 200)
        let generator = RandomGenerator(seed: 1)
        func size(_ preprocessing: Preprocessing, _ image: Image = source) -> [Int] {
            let result = preprocessing.apply(image, generator: generator)
            return [result.width, result.height]
        }
        XCTAssertEqual(size(Preprocessing(mode: .resizeAndCrop, loadSize: 286, cropSize: 256)), [256, 256])
        XCTAssertEqual(size(Preprocessing(mode: .crop, cropSize: 128)), [128, 128])
        XCTAssertEqual(size(Preprocessing(mode: .scaleWidth, loadSize: 150, cropSize: 64)), [150, 100])
        XCTAssertEqual(size(Preprocessing(mode: .scaleWidth, loadSize: 150, cropSize: 120)), [150, 120])
        XCTAssertEqual(size(Preprocessing(mode: .scaleWidthAndCrop, loadSize: 150, cropSize: 64)), [64, 64])
        XCTAssertEqual(size(Preprocessing(mode: .none)), [300, 200])
        XCTAssertEqual(size(Preprocessing(mode: .none), image(1, width: 30, height: 22)), [32, 24])   // 7.5 → 8, 5.5 → 6
        XCTAssertEqual(size(Preprocessing(mode: .none), image(1, width: 10, height: 6)), [8, 8])      // 2.5 → 2, 1.5 → 2 (ties to even)
        // A crop larger than a side pads with black, as PIL's crop does.
        let padded = Preprocessing(mode: .crop, cropSize: 50, flip: false).apply(image(9, width: 60, height: 20),
                                                                               .init(cropX: 0, cropY: 0, flip: false))
        XCTAssertEqual([padded.width, padded.height], [50, 50])
        XCTAssertEqual(padded[0, 45, 0], 0)
        XCTAssertEqual(padded[0, 5, 0], 9)
    }

    func testCropPositionAndFlipFollowTheParameters() {
        let source = image(3, width: 40, height: 30)
        let preprocessing = Preprocessing(mode: .crop, cropSize: 10, flip: true)
        let result = preprocessing.apply(source, .init(cropX: 5, cropY: 7, flip: true))
        XCTAssertEqual(result[0, 0, 1], source[14, 7, 1])
        XCTAssertEqual(result[9, 0, 1], source[5, 7, 1])
        XCTAssertEqual(result[0, 9, 2], source[14, 16, 2])
        // Parameters stay inside the bounds the reference draws from (inclusive upper bound).
        let generator = RandomGenerator(seed: 5)
        var seen = Set<Int>()
        for _ in 0..<400 {
            let parameters = Preprocessing(mode: .resizeAndCrop, loadSize: 20, cropSize: 16).parameters(width: 99, height: 7, generator: generator)
            XCTAssertTrue((0...4).contains(parameters.cropX) && (0...4).contains(parameters.cropY))
            seen.insert(parameters.cropX)
        }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
    }

    func testUnalignedMode() throws {
        for index in 0..<3 { try write(image(10 + index), "data/trainA/a\(index).png") }
        for index in 0..<5 { try write(image(100 + index), "data/trainB/b\(index).jpg") }
        let dataset = try UnalignedDataset(root: root.appendingPathComponent("data"),
                                           preprocessing: Preprocessing(mode: .resizeAndCrop, loadSize: 36, cropSize: 32))
        XCTAssertEqual(dataset.count, 5)
        let sample = try dataset.sample(at: 4, generator: RandomGenerator(seed: 3))
        XCTAssertEqual(sample.a.shape, [1, 3, 32, 32])
        XCTAssertEqual(sample.b?.shape, [1, 3, 32, 32])
        XCTAssertTrue(sample.pathA.hasSuffix("a1.png"), "A wraps around: index 4 of 3 files")
        XCTAssertEqual(sample.a.pointer[0], Float(11) / 127.5 - 1, accuracy: 1e-6)
        var drawn = Set<String>()
        for seed in 0..<40 { drawn.insert(try dataset.sample(at: 0, generator: RandomGenerator(seed: UInt64(seed))).pathB!) }
        XCTAssertEqual(drawn.count, 5, "B is drawn at random")
        let serial = try UnalignedDataset(root: root.appendingPathComponent("data"), serialBatches: true)
        XCTAssertTrue(try serial.sample(at: 3, generator: RandomGenerator(seed: 1)).pathB!.hasSuffix("b3.jpg"))
        let reversed = try UnalignedDataset(root: root.appendingPathComponent("data"), direction: .bToA, inputChannels: 1)
        let gray = try reversed.sample(at: 0, generator: RandomGenerator(seed: 1))
        XCTAssertEqual(gray.a.shape[1], 1)
        XCTAssertTrue(gray.pathA.contains("trainB"))
    }

    func testAlignedModeSplitsAndSharesTheCrop() throws {
        for index in 0..<2 {
            let combined = PairCombiner.sideBySide(image(20 + index), image(200 + index))!
            try write(combined, "aligned/train/\(index).png")
        }
        let dataset = try AlignedDataset(root: root.appendingPathComponent("aligned"),
                                         preprocessing: Preprocessing(mode: .crop, cropSize: 16))
        XCTAssertEqual(dataset.count, 2)
        for seed in 0..<10 {
            let sample = try dataset.sample(at: 1, generator: RandomGenerator(seed: UInt64(seed)))
            XCTAssertEqual(sample.a.shape, [1, 3, 16, 16])
            XCTAssertEqual(sample.a.pointer[0], Float(21) / 127.5 - 1, accuracy: 1e-6)
            XCTAssertEqual(sample.b!.pointer[0], Float(201) / 127.5 - 1, accuracy: 1e-6)
            // Same crop and flip: the x and y ramps (green, blue) agree pixel for pixel.
            let plane = 16 * 16
            for index in 0..<(2 * plane) { XCTAssertEqual(sample.a.pointer[plane + index], sample.b!.pointer[plane + index]) }
        }
        let backwards = try AlignedDataset(root: root.appendingPathComponent("aligned"), direction: .bToA,
                                           preprocessing: Preprocessing(mode: .none, flip: false))
        let reversed = try backwards.sample(at: 0, generator: RandomGenerator(seed: 0))
        XCTAssertEqual(reversed.a.pointer[0], Float(200) / 127.5 - 1, accuracy: 1e-6)
    }

    func testPairedFoldersMatchByName() throws {
        try write(image(1), "paired/A/one.png")
        try write(image(2), "paired/A/sub/two.png")
        try write(image(101), "paired/B/one.jpg")
        try write(image(102), "paired/B/sub/two.png")
        let dataset = try PairedFolderDataset(root: root.appendingPathComponent("paired"),
                                              preprocessing: Preprocessing(mode: .crop, cropSize: 20))
        XCTAssertEqual(dataset.count, 2)
        let sample = try dataset.sample(at: 1, generator: RandomGenerator(seed: 4))
        XCTAssertTrue(sample.pathA.hasSuffix("A/sub/two.png") && sample.pathB!.hasSuffix("B/sub/two.png"))
        XCTAssertEqual(sample.a.shape, [1, 3, 20, 20])
        try write(image(3), "paired/A/lonely.png")
        XCTAssertThrowsError(try PairedFolderDataset(root: root.appendingPathComponent("paired"))) { error in
            XCTAssertTrue("\(error)".contains("lonely"), "\(error)")
        }
    }

    func testSingleAndColorizationModes() throws {
        try write(image(50, width: 30, height: 22), "single/x.png")
        let single = try SingleDataset(folder: root.appendingPathComponent("single"))
        let sample = try single.sample(at: 0, generator: RandomGenerator(seed: 0))
        XCTAssertEqual(sample.a.shape, [1, 3, 24, 32])
        XCTAssertNil(sample.b)

        var colors = Image(width: 2, height: 1, channels: 3, repeating: 0)
        (colors[0, 0, 0], colors[0, 0, 1], colors[0, 0, 2]) = (255, 0, 0)
        (colors[1, 0, 0], colors[1, 0, 1], colors[1, 0, 2]) = (255, 255, 255)
        try write(colors, "color/train/c.png")
        let dataset = try ColorizationDataset(root: root.appendingPathComponent("color"),
                                              preprocessing: Preprocessing(mode: .crop, cropSize: 2, flip: false))
        let lab = try dataset.sample(at: 0, generator: RandomGenerator(seed: 0))
        XCTAssertEqual(lab.a.shape, [1, 1, 1, 2])
        XCTAssertEqual(lab.b?.shape, [1, 2, 1, 2])
        // skimage: red is L 53.2406, a 80.0923, b 67.2028; white is L 100, a ≈ b ≈ 0.
        XCTAssertEqual(lab.a.pointer[0], Float(53.240587943744885 / 50 - 1), accuracy: 1e-5)
        XCTAssertEqual(lab.b!.pointer[0], Float(80.09230822569225 / 110), accuracy: 1e-5)
        XCTAssertEqual(lab.b!.pointer[2], Float(67.20275104442868 / 110), accuracy: 1e-5)
        XCTAssertEqual(lab.a.pointer[1], 1, accuracy: 1e-5)
    }

    func testLoaderShufflesBatchesDeterministicallyAndSkipsBadFiles() throws {
        for index in 0..<7 { try write(image(index * 10), "loader/trainA/\(index).png") }
        try Data("broken".utf8).write(to: root.appendingPathComponent("loader/trainA/9.png"))
        for index in 0..<2 { try write(image(200 + index), "loader/trainB/\(index).png") }
        let dataset = try UnalignedDataset(root: root.appendingPathComponent("loader"),
                                           preprocessing: Preprocessing(mode: .crop, cropSize: 16))
        let warnings = WarningLog()
        func run(workers: Int) throws -> [[Int]] {
            let loader = DataLoader(dataset: dataset, batchSize: 3, shuffle: true, seed: 42, workers: workers,
                                    prefetchBatches: 2, warning: { warnings.append($0) })
            var result: [[Int]] = []
            let iterator = loader.batches(epoch: 0)
            while let batch = try iterator.nextBatch() {
                XCTAssertEqual(batch.a.shape[1...], [3, 16, 16])
                XCTAssertEqual(batch.a.shape[0], batch.indices.count)
                XCTAssertEqual(batch.b?.shape[0], batch.indices.count)
                result.append(batch.indices + batch.a.scalars.prefix(3).map { Int($0 * 1000) })
            }
            return result
        }
        let one = try run(workers: 1), two = try run(workers: 2)
        XCTAssertEqual(one, two, "results do not depend on the number of workers")
        XCTAssertEqual(one.map { $0.count }.reduce(0, +) - 3 * one.count, 7, "the unreadable file is skipped")
        XCTAssertTrue(warnings.messages.contains { $0.contains("9.png") }, "\(warnings.messages)")
        let loader = DataLoader(dataset: dataset, batchSize: 3, seed: 42)
        XCTAssertNotEqual(loader.order(epoch: 0), loader.order(epoch: 1))
        XCTAssertEqual(loader.order(epoch: 3), DataLoader(dataset: dataset, batchSize: 3, seed: 42).order(epoch: 3))
        XCTAssertEqual(loader.order(epoch: 0).sorted(), Array(0..<8))

        let strict = DataLoader(dataset: dataset, batchSize: 8, shuffle: false, failurePolicy: .fail)
        XCTAssertThrowsError(try strict.batches(epoch: 0).nextBatch()) { error in
            XCTAssertTrue("\(error)".contains("9.png"), "\(error)")
        }
    }

    /// Data-parallel replicas: 3 replicas with batch 2 visit together, step by step, what one loader with batch 6
    /// visits (same samples, same crops — a sample's randomness follows its position); 7 samples are padded by wrapping
    /// to 9 so every replica has the same number of batches.
    func testReplicasSplitEachBatchOfOneLoader() throws {
        for index in 0..<7 { try write(image(index * 10), "replicas/trainA/\(index).png") }
        for index in 0..<7 { try write(image(100 + index), "replicas/trainB/\(index).png") }
        let dataset = try UnalignedDataset(root: root.appendingPathComponent("replicas"),
                                           preprocessing: Preprocessing(mode: .crop, cropSize: 16, flip: true))
        func batches(_ loader: DataLoader) throws -> [Batch] {
            var result: [Batch] = []
            let iterator = loader.batches(epoch: 2)
            while let batch = try iterator.nextBatch() { result.append(batch) }
            return result
        }
        let whole = try batches(DataLoader(dataset: dataset, batchSize: 6, seed: 9, workers: 1))
        let parts = try (0..<3).map { try batches(DataLoader(dataset: dataset, batchSize: 2, seed: 9, workers: 1, replica: $0, replicas: 3)) }
        XCTAssertEqual(parts.map(\.count), [2, 2, 2])
        XCTAssertEqual(parts.map { $0.map(\.indices.count) }, [[2, 1], [2, 1], [2, 1]])
        XCTAssertEqual(whole.count, 2)
        // Step 0: replica r takes positions r, r + 3 — one loader's positions 0 ..< 6.
        let order = DataLoader(dataset: dataset, batchSize: 6, seed: 9).order(epoch: 2)
        XCTAssertEqual(whole[0].indices, Array(order[0..<6]))
        for replica in 0..<3 {
            XCTAssertEqual(parts[replica][0].indices, [order[replica], order[replica + 3]])
            for (slot, position) in [replica, replica + 3].enumerated() {
                XCTAssertEqual(parts[replica][0].a.sliced(axis: 0, slot..<(slot + 1)).scalars,
                               whole[0].a.sliced(axis: 0, position..<(position + 1)).scalars, "the same crop and flip")
            }
        }
        // Step 1: positions 6, 7, 8 — 7 and 8 wrap to the first two samples of the order.
        XCTAssertEqual(parts.map { $0[1].indices[0] }, [order[6], order[0], order[1]])
    }

    func testCombineWritesSideBySidePairsAndReportsProblems() throws {
        try write(image(1), "combine/A/x.png")
        try write(image(2), "combine/A/deep/y.png")
        try write(image(3), "combine/A/only-a.png")
        try write(image(101), "combine/B/x.png")
        try write(image(102), "combine/B/deep/y.jpg")
        try write(image(103, width: 10, height: 10), "combine/A/z.png")
        try write(image(104), "combine/B/z.png")
        let output = root.appendingPathComponent("combine/AB")
        let report = try PairCombiner.combine(folderA: root.appendingPathComponent("combine/A"),
                                              folderB: root.appendingPathComponent("combine/B"), output: output)
        XCTAssertEqual(report.written, ["deep/y", "x"])
        XCTAssertEqual(report.failed.map(\.0), ["only-a", "z"])
        let combined = try Image.read(contentsOf: output.appendingPathComponent("x.png"))
        XCTAssertEqual([combined.width, combined.height], [80, 30])
        XCTAssertEqual(combined[0, 0, 0], 1)
        XCTAssertEqual(combined[40, 0, 0], 101)
        let again = try PairCombiner.combine(folderA: root.appendingPathComponent("combine/A"),
                                             folderB: root.appendingPathComponent("combine/B"), output: output)
        XCTAssertEqual(again.skipped, ["deep/y", "x"])
    }
}

/// Collects loader warnings from worker threads.
final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ message: String) { lock.lock(); stored.append(message); lock.unlock() }
    var messages: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
