import _TestSupport
import Foundation
import SafeFiles
import XCTest

final class SafeFilesTests: XCTestCase {
    var root: URL!
    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// A write replaces the file whole and leaves no temporary file; a failed write leaves the old file as it was and
    /// says why in words.
    func testAtomicWriteAndPlainErrors() throws {
        let target = root.appendingPathComponent("a.bin")
        try AtomicFile.write(Data([1, 2, 3]), to: target)
        try AtomicFile.write(Data([4, 5]), to: target)
        XCTAssertEqual(try Data(contentsOf: target), Data([4, 5]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["a.bin"])

        let blocker = root.appendingPathComponent("file")
        try Data([0]).write(to: blocker)
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: blocker.appendingPathComponent("x.png"))) { error in
            XCTAssertEqual("\(error)", "\(blocker.path)/x.png: a part of this path is a file, not a folder")
        }
        XCTAssertThrowsError(try Folder.create(blocker.appendingPathComponent("sub/deeper"))) { error in
            XCTAssertTrue("\(error)".contains("\(blocker.path) is a file, not a folder"), "\(error)")
        }
        XCTAssertThrowsError(try Folder.checkWritable(blocker)) { error in
            XCTAssertTrue("\(error)".contains("this is a file, not a folder"), "\(error)")
        }
        try Folder.checkWritable(root.appendingPathComponent("new/folder"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("new/folder").path), [], "the probe is removed")
        XCTAssertEqual(FileProblem.sentence(errno: ENOSPC), "no space left on the disk")
        let cocoa = NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError)
        XCTAssertEqual(FileProblem.sentence(for: cocoa), "no space left on the disk")
    }

    /// Temporary files of a process that is gone are removed at the next start; those of a live process stay.
    func testStaleTemporaryFilesAreRemoved() throws {
        let dead = root.appendingPathComponent(".state.safetensors\(AtomicFile.partialMarker)999999999-1")
        let live = AtomicFile.temporaryURL(for: root.appendingPathComponent("mine.png"))
        let foundation = root.appendingPathComponent(".dat.nosync1234.abcd")
        for url in [dead, live, foundation] { try Data([0]).write(to: url) }
        XCTAssertEqual(AtomicFile.removeStale(in: root), [dead.lastPathComponent])
        XCTAssertEqual(AtomicFile.removeStale(in: root, foundationTemporaries: true), [foundation.lastPathComponent])
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path))
    }

    /// Links, `..` and not-yet-existing tails resolve to one path; identities match across links.
    func testResolvedPathsAndIdentity() throws {
        let folder = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let link = root.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: folder)
        try Data([1]).write(to: folder.appendingPathComponent("p.png"))
        XCTAssertEqual(link.fullyResolved.path, folder.fullyResolved.path)
        XCTAssertEqual(link.appendingPathComponent("new/out.png").fullyResolved.path,
                       folder.fullyResolved.appendingPathComponent("new/out.png").path)
        XCTAssertEqual(FileIdentity(path: link.appendingPathComponent("p.png").path), FileIdentity(path: folder.appendingPathComponent("p.png").path))
        XCTAssertNil(FileIdentity(path: folder.appendingPathComponent("none").path))
        XCTAssertTrue(folder.appendingPathComponent("a/b").isInside(folder))
        XCTAssertFalse(root.appendingPathComponent("photos2").isInside(folder))
    }
}
