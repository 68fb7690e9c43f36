import Distributed
import XCTest

final class ShardTests: XCTestCase {
    /// The parts of a list are disjoint, cover it, and differ in size by at most one; `i/n` parses 1-based.
    func testShardsPartitionAList() {
        for count in 0...11 {
            let items = Array(0..<count)
            for parts in 1...5 {
                let shards = (0..<parts).map { Shard(index: $0, count: parts).part(of: items) }
                XCTAssertEqual(shards.flatMap { $0 }.sorted(), items, "\(count) items in \(parts)")
                let sizes = shards.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
            }
        }
        XCTAssertEqual(Shard(parsing: "2/4"), Shard(index: 1, count: 4))
        XCTAssertEqual(Shard(parsing: "2/4")?.description, "2/4")
        for bad in ["0/4", "5/4", "2", "a/b", "2/0", "1/2/3", ""] { XCTAssertNil(Shard(parsing: bad), bad) }
        XCTAssertEqual(Shard.all.part(of: [3, 1, 2]), [3, 1, 2])
    }

    /// A process joins MPI only when a launcher started it; the cores are shared among the ranks on a machine.
    func testLaunchDetectionAndThreads() {
        XCTAssertFalse(Communicator.launchedByMPI([:]))
        XCTAssertTrue(Communicator.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertNil(Communicator.threadsPerProcess(cores: 8, environment: [:]))
        XCTAssertEqual(Communicator.threadsPerProcess(cores: 8, environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]), 4)
        XCTAssertEqual(Communicator.threadsPerProcess(cores: 2, environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"]), 1)
        // Outside mpirun (as here) nothing is loaded.
        XCTAssertNil(try Communicator.world())
    }
}
