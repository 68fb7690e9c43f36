import Foundation

/// The processes of one job and the collective operations between them (MPI's `MPI_COMM_WORLD`).
///
/// A process started by `mpirun` (Open MPI sets `OMPI_COMM_WORLD_SIZE`; PMIx launchers `PMIX_RANK`) joins the job
/// through ``world``; any other process gets nil there and never loads MPI. Every collective must be called by every
/// rank in the same order (as MPI's); all run on the calling (main) thread.
public final class Communicator: @unchecked Sendable {
    /// This process's rank, 0 ..< ``size``.
    public let rank: Int
    /// The number of processes.
    public let size: Int
    let mpi: OpenMPI
    private var finalized = false

    /// Whether `environment` says an MPI launcher started this process.
    public static func launchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    private static let shared: Result<Communicator?, Error> = Result {
        guard launchedByMPI() else { return nil }
        return try Communicator()
    }

    /// The job this process belongs to, joined on first use; nil when no MPI launcher started it.
    /// - Throws: ``DistributedError`` when launched by `mpirun` but MPI cannot be loaded or started.
    public static func world() throws -> Communicator? { try shared.get() }

    /// The job, if this process joined one (without joining it).
    public static var joined: Communicator? { (try? shared.get()) ?? nil }

    /// Under `mpirun`, the cores of this machine shared among the job's processes on it (at least 1); nil otherwise.
    public static func threadsPerProcess(cores: Int = ProcessInfo.processInfo.activeProcessorCount,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        guard launchedByMPI(environment) else { return nil }
        let local = Int(environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["PMIX_LOCAL_SIZE"] ?? "") ?? 1
        return max(1, cores / max(1, local))
    }

    private init() throws {
        mpi = try OpenMPI()
        var provided: Int32 = 0
        let status = mpi.initThread(nil, nil, OpenMPI.threadFunneled, &provided)
        guard status == 0 else { throw DistributedError.initialisation("MPI_Init_thread returned \(status)") }
        var value: Int32 = 0
        mpi.check(mpi.commRank(mpi.world, &value), "MPI_Comm_rank")
        rank = Int(value)
        mpi.check(mpi.commSize(mpi.world, &value), "MPI_Comm_size")
        size = Int(value)
    }

    /// Rank 0 — the one that writes files and prints.
    public var isRoot: Bool { rank == 0 }

    /// Elements per collective call: large buffers go in pieces of this many (MPI counts are 32-bit).
    static let pieceCount = 1 << 24

    /// Sums `count` floats at `buffer` over all ranks, in place (every rank gets the sum).
    public func sum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        for start in stride(from: 0, to: count, by: Communicator.pieceCount) {
            let length = Int32(min(Communicator.pieceCount, count - start))
            mpi.check(mpi.allreduce(OpenMPI.inPlace, buffer + start, length, mpi.float, mpi.sum, mpi.world), "MPI_Allreduce")
        }
    }

    /// Each value summed over all ranks.
    public func sum(_ values: [Double]) -> [Double] { reduce(values, operation: mpi.sum) }

    /// Each value's maximum over all ranks.
    public func maximum(_ values: [Double]) -> [Double] { reduce(values, operation: mpi.max) }

    private func reduce(_ values: [Double], operation: OpenMPI.Handle) -> [Double] {
        var result = values
        guard !values.isEmpty else { return result }
        result.withUnsafeMutableBytes { bytes in
            mpi.check(mpi.allreduce(OpenMPI.inPlace, bytes.baseAddress, Int32(values.count), mpi.double, operation, mpi.world), "MPI_Allreduce")
        }
        return result
    }

    /// Copies `count` floats at `buffer` from `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int = 0) {
        for start in stride(from: 0, to: count, by: Communicator.pieceCount) {
            let length = Int32(min(Communicator.pieceCount, count - start))
            mpi.check(mpi.broadcast(buffer + start, length, mpi.float, Int32(root), mpi.world), "MPI_Bcast")
        }
    }

    /// Every rank's `value`, in rank order.
    public func allGather(_ value: UInt64) -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        all.withUnsafeMutableBytes { output in
            withUnsafeBytes(of: &mine) { input in
                mpi.check(mpi.allgather(input.baseAddress, 8, mpi.byte, output.baseAddress, 8, mpi.byte, mpi.world), "MPI_Allgather")
            }
        }
        return all
    }

    /// Every rank's `count` floats at `buffer` concatenated in rank order into `output` (`size · count` floats) on
    /// `root`; `output` is ignored elsewhere. `count` must be the same on every rank.
    public func gather(_ buffer: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>?, root: Int = 0) {
        precondition(count <= Int(Int32.max), "gather of \(count) floats exceeds MPI's count")
        mpi.check(mpi.gather(buffer, Int32(count), mpi.float, output, Int32(count), mpi.float, Int32(root), mpi.world), "MPI_Gather")
    }

    /// Ends every rank of the job with `code` (after an error on this one the others would wait forever).
    public func abort(code: Int32) -> Never {
        _ = mpi.abort(mpi.world, code)
        exit(code)
    }

    /// Leaves the job (once; before the process exits normally).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = mpi.finalize()
    }
}

/// A deterministic part of a list: `--shard i/n`, or the rank's under `mpirun`.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based.
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "shard \(index) of \(count)")
        self.index = index
        self.count = count
    }

    /// Parses `i/n` with 1 ≤ i ≤ n (as people count shards); nil otherwise.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 1, index <= count else { return nil }
        self.init(index: index - 1, count: count)
    }

    /// The whole list.
    public static let all = Shard(index: 0, count: 1)

    /// This shard's elements of `items`: every `count`-th from position `index` (round robin keeps the parts' sizes
    /// within one and mixes large and small files). The shards of one list are disjoint and cover it.
    public func part<T>(of items: [T]) -> [T] {
        stride(from: index, to: items.count, by: count).map { items[$0] }
    }

    public var description: String { "\(index + 1)/\(count)" }
}
