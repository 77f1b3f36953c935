// Package sqlite is the SQLite implementation of inspector.Store, on the
// pure-Go modernc.org/sqlite driver: one file in WAL mode with
// synchronous=FULL, created 0600, with versioned embedded migrations.
//
// Every write goes through one writer goroutine and one connection. It takes
// every queued request, runs each inside its own savepoint of one shared
// transaction, commits once and answers each (group commit): concurrent
// deliveries share an fsync instead of paying one each, and a failing request
// is rolled back alone. Reads use a separate pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// Defaults of Options.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process (a `deliveries list` reading while the inspector
	// writes).
	DefaultBusyTimeout = 10 * time.Second
	// DefaultMaxBatch caps how many writes share one commit.
	DefaultMaxBatch = 256
	// DefaultReadConns is the size of the read pool.
	DefaultReadConns = 4
	// DefaultCommitDelay is Options.CommitDelay's default: a little more
	// than a round trip of the clients a commit answered, and well under
	// the commit itself (about 350 µs with fsync here). Measured with the
	// bench command at concurrency 16: 200 µs gave 28-29% of the bare
	// handler's rate, 500 µs 26%, and no wait at all fewer than either.
	DefaultCommitDelay = 200 * time.Microsecond
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives the store's own log lines; nil discards them.
	Logger *slog.Logger
	// Now is the store's clock (updated_at and similar); nil is time.Now.
	Now func() time.Time
	// BusyTimeout, MaxBatch and ReadConns default to the constants above.
	BusyTimeout time.Duration
	MaxBatch    int
	ReadConns   int
	// CommitDelay is how long the writer waits for more writes before it
	// commits, when the previous commit was shared; zero is
	// DefaultCommitDelay, negative disables the wait.
	CommitDelay time.Duration
	// ReadOnly opens an existing database for reading commands: the file
	// is neither created nor migrated nor checkpointed, and every write
	// fails. A missing or empty file, or one without the inspector's
	// tables, is ErrNoDatabase; an older schema is an error too.
	ReadOnly bool
}

// Store is an inspector.Store in one SQLite file. It is safe for concurrent
// use.
type Store struct {
	path     string
	log      *slog.Logger
	now      func() time.Time
	maxBatch int
	// commitDelay and expect (the writer's own) drive the gathering of batches.
	commitDelay time.Duration
	expect      int

	wdb *sql.DB // one connection, used only by the writer goroutine
	rdb *sql.DB // read-only pool
	cdb *sql.DB // one connection, used only by the checkpointer

	jobs       chan *job
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
	ckptKick   chan struct{}
	ckptDone   chan struct{}

	stmts writeStmts
	// lastIDs are the highest delivery and event ids committed, when known;
	// the writer assigns the next ones itself. Writer-owned.
	lastIDs lastIDs

	// secrets caches committed handshake secrets by hook id, so verifying a
	// delivery costs no query. A stored secret changes only through
	// DiscardSecret, which bumps secretGen and drops the entry; a read that
	// raced with it is not cached. The cache assumes, as the inspector does,
	// that one process writes the file at a time.
	secretMu  sync.Mutex
	secrets   map[string][]byte
	secretGen uint64

	// walRewind is the checkpointer's request that the writer finish a
	// checkpoint (see walRestartFrames).
	walRewind atomic.Bool

	// commits counts committed transactions, so tests can see batching;
	// walRewinds the checkpoints that copied the whole WAL, after which the
	// next transaction can start it again.
	commits    atomic.Int64
	walRewinds atomic.Int64
}

var _ inspector.Store = (*Store)(nil)

// Open opens (creating if needed) the store at path and applies the missing
// migrations. The file and its -wal and -shm companions are made 0600.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite store %q: the path must be a plain file name without '?' or '#'", path)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = DefaultReadConns
	}
	if opts.CommitDelay == 0 {
		opts.CommitDelay = DefaultCommitDelay
	}
	if opts.ReadOnly {
		return openReadOnly(ctx, path, opts)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", path+"?"+busy+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"+
		"&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := checkPragmas(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := migrate(ctx, wdb, opts.Now()); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// SQLite gives -wal and -shm the main file's mode; make sure anyway,
	// whatever the umask.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			wdb.Close()
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}

	rdb, err := sql.Open("sqlite", path+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	cdb, err := sql.Open("sqlite", path+"?"+busy+"&_pragma=synchronous(FULL)")
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	cdb.SetMaxOpenConns(1)

	return start(ctx, path, opts, wdb, rdb, cdb, true)
}

// start builds the Store on its three connection pools and starts the writer
// (and, unless read-only, the checkpointer). On an error it closes them.
func start(ctx context.Context, path string, opts Options, wdb, rdb, cdb *sql.DB, checkpoint bool) (*Store, error) {
	s := &Store{
		path:        path,
		log:         opts.Logger,
		now:         opts.Now,
		maxBatch:    opts.MaxBatch,
		commitDelay: opts.CommitDelay,
		wdb:         wdb,
		rdb:         rdb,
		cdb:         cdb,
		ckptKick:    make(chan struct{}, 1),
		secrets:     make(map[string][]byte),
		ckptDone:    make(chan struct{}),
		jobs:        make(chan *job, opts.MaxBatch),
		closing:     make(chan struct{}),
		writerDone:  make(chan struct{}),
	}
	if err := s.stmts.prepare(ctx, wdb); err != nil {
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	go s.writer()
	if checkpoint {
		go s.checkpointer()
	} else {
		close(s.ckptDone)
	}
	return s, nil
}

// createPrivate creates path with mode 0600 if it does not exist, and
// tightens its mode to 0600 if it does.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("set file mode: %w", err)
	}
	return nil
}

// checkPragmas makes sure the durability settings took: the store must never
// run with less than WAL and synchronous=FULL.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var sync, fk int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync < 2 {
		return fmt.Errorf("synchronous is %d, want FULL (2)", sync)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are off")
	}
	return nil
}

// Close waits for the queued writes to commit, stops the writer and closes
// the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		<-s.ckptDone
		s.stmts.close()
		// The last connection to close checkpoints and removes the WAL.
		s.closeErr = errors.Join(s.cdb.Close(), s.rdb.Close(), s.wdb.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close sqlite store %s: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// job is one write, run by the writer goroutine inside a savepoint of a
// shared transaction.
type job struct {
	ctx context.Context
	run func(tx *sql.Tx) (any, error)
	// rec, when set, is the delivery that run records: the writer stores
	// consecutive deliveries of a batch together (recordGroup), and uses run
	// only when the batch is retried job by job.
	rec  *deliveryRec
	done chan jobResult // buffered, so the writer never waits for a caller
}

type jobResult struct {
	v   any
	err error
}

// write queues fn for the writer and waits for its commit. When ctx ends
// first, it returns the context's error: a job not yet started is then skipped
// whole, and one already in the transaction may still commit, whole.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) (any, error)) (any, error) {
	return s.writeJob(ctx, &job{run: fn})
}

// writeJob is write for a prepared job (run set, and rec for a delivery).
func (s *Store) writeJob(ctx context.Context, j *job) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.ctx, j.done = ctx, make(chan jobResult, 1)
	select {
	case <-s.closing:
		return nil, inspector.ErrClosed
	default:
	}
	select {
	case s.jobs <- j:
	case <-s.closing:
		return nil, inspector.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.writerDone:
		// The writer drains the queue before it stops, so the answer is
		// normally there already.
		select {
		case r := <-j.done:
			return r.v, r.err
		default:
			return nil, inspector.ErrClosed
		}
	}
}

// writer is the single goroutine that writes. It commits whatever is queued
// in one transaction, then looks again.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.closing:
			// Commit what was queued before Close, then stop.
			for {
				batch := s.drain(nil)
				if len(batch) == 0 {
					return
				}
				s.commit(batch, nil)
			}
		}
		batch := s.commit(s.drain([]*job{first}), s.newGathering())
		s.expect = len(batch) + len(s.jobs)
		s.finishCheckpoint()
	}
}

// gathering is how a batch grows while its transaction runs. Group commit
// alone splits concurrent writers into two cohorts that alternate (one is
// committed while the other travels back and forth), so each commit serves
// half of them. The writer therefore expects the writers the last commit
// answered, plus those that queued during it, and waits for them up to
// commitDelay (PostgreSQL's commit_delay, with an early exit). It runs the
// jobs that have come while it waits for the others, so the wait overlaps the
// work. A lone writer never waits; jobs that queued meanwhile join the batch
// anyway.
type gathering struct {
	expect  int
	timer   *time.Timer // nil: no waiting
	expired bool
}

// newGathering starts the gathering of the next batch.
func (s *Store) newGathering() *gathering {
	g := &gathering{expect: min(s.expect, s.maxBatch)}
	if s.commitDelay > 0 && g.expect >= 2 {
		g.timer = time.NewTimer(s.commitDelay)
	}
	return g
}

// more returns batch with the jobs that queued since, waiting for them while
// the batch is smaller than expected and the delay has not expired. An
// unchanged batch means it is complete.
func (s *Store) more(batch []*job, g *gathering) []*job {
	n := len(batch)
	if batch = s.drain(batch); len(batch) > n || len(batch) >= s.maxBatch {
		return batch
	}
	if g.timer == nil || g.expired || len(batch) >= g.expect {
		return batch
	}
	select {
	case j := <-s.jobs:
		return s.drain(append(batch, j))
	case <-g.timer.C:
		g.expired = true
	case <-s.closing:
		g.expired = true
	}
	return s.drain(batch)
}

// stop releases the gathering's timer.
func (g *gathering) stop() {
	if g != nil && g.timer != nil {
		g.timer.Stop()
	}
}

// drain appends the queued jobs to batch, up to maxBatch, without waiting.
func (s *Store) drain(batch []*job) []*job {
	for len(batch) < s.maxBatch {
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// commit runs a batch in one transaction, growing it as g says (nil: not at
// all), and answers every job once the transaction is committed (or has
// failed); it returns the batch as it ended up. It first runs the jobs one
// after the other; only if one fails does it roll everything back and run the
// batch again, without growing it, with each job in its own savepoint, so
// that the failing one is undone alone. Failures are rare (a delivery to an
// unknown hook, a conflicting handshake), and savepoints cost the single
// writer two statements per job.
func (s *Store) commit(batch []*job, g *gathering) []*job {
	defer g.stop()
	results, batch, ok := s.runBatch(batch, false, g)
	if !ok {
		results, batch, _ = s.runBatch(batch, true, nil)
	}
	for i, j := range batch {
		j.done <- results[i]
	}
	s.prepareGroupStmts()
	return batch
}

// runBatch runs and commits a batch, growing it as g says (nil: not at all),
// and returns the batch as it ended up. Without savepoints, it gives up (ok
// false, nothing committed) at the first job that fails.
func (s *Store) runBatch(batch []*job, savepoints bool, g *gathering) (results []jobResult, _ []*job, ok bool) {
	// The statements run under the writer's own context: interrupting one
	// would roll back the whole shared transaction. Callers' contexts are
	// checked before their job starts.
	ctx := context.Background()
	results = make([]jobResult, len(batch))
	fail := func(err error) ([]jobResult, []*job, bool) {
		for i := range results {
			if results[i].err == nil {
				results[i] = jobResult{err: err}
			}
		}
		return results, batch, true
	}
	// The ids stay unknown unless this transaction commits having assigned
	// them all itself (savepoints runs jobs that let SQLite assign them).
	ids := s.lastIDs
	s.lastIDs = lastIDs{}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("begin transaction: %w", err))
	}
	exec := func(st *sql.Stmt) error {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx)
		return err
	}
	for i := 0; ; i++ {
		if i == len(batch) && g != nil {
			batch = s.more(batch, g)
			for len(results) < len(batch) {
				results = append(results, jobResult{})
			}
		}
		if i == len(batch) {
			break
		}
		j := batch[i]
		if err := j.ctx.Err(); err != nil {
			results[i] = jobResult{err: err}
			continue
		}
		if !savepoints && j.rec != nil {
			// The deliveries that follow are stored together, a few
			// statements for all of them.
			n := 1
			for i+n < len(batch) && batch[i+n].rec != nil && batch[i+n].ctx.Err() == nil {
				n++
			}
			if err := s.recordGroup(tx, &ids, batch[i:i+n], results[i:i+n]); err != nil {
				_ = tx.Rollback()
				return nil, batch, false
			}
			i += n - 1
			continue
		}
		if savepoints {
			if err := exec(s.stmts.savepoint); err != nil {
				_ = tx.Rollback()
				return fail(fmt.Errorf("savepoint: %w", err))
			}
		}
		v, runErr := j.run(tx)
		if runErr != nil {
			if !savepoints {
				_ = tx.Rollback()
				return nil, batch, false
			}
			results[i] = jobResult{err: runErr}
			err := exec(s.stmts.rollbackTo)
			if err == nil {
				err = exec(s.stmts.release)
			}
			if err != nil {
				_ = tx.Rollback()
				return fail(fmt.Errorf("roll back to savepoint: %w", err))
			}
			continue
		}
		if savepoints {
			if err := exec(s.stmts.release); err != nil {
				_ = tx.Rollback()
				return fail(fmt.Errorf("release savepoint: %w", err))
			}
		}
		results[i] = jobResult{v: v}
	}
	if err := tx.Commit(); err != nil {
		s.log.Error("sqlite commit failed", "err", err, "batch", len(batch))
		return fail(fmt.Errorf("commit: %w", err))
	}
	if !savepoints {
		s.lastIDs = ids
	}
	if n := s.commits.Add(1); n%checkpointEvery == 0 {
		select {
		case s.ckptKick <- struct{}{}:
		default:
		}
	}
	return results, batch, true
}

// Checkpoints copy the WAL back into the database file. SQLite would run them
// inside the commit that crosses wal_autocheckpoint, making that delivery wait
// for page writes and an extra fsync; the store turns that off and runs them on
// their own connection instead, after every checkpointEvery commits and every
// checkpointInterval. Durability is unchanged: every commit still syncs the
// WAL, and a checkpoint syncs the database before the WAL is reused.
//
// A checkpoint on its own connection never catches up with a writer that
// commits without pause, and SQLite rewinds the WAL only after one that did: the
// WAL would grow without bound, every commit appending to it (an fsync that
// also grows the file costs more than one that overwrites). Once the WAL holds
// more than walRestartFrames, the checkpointer therefore asks the writer to
// finish the job: between two transactions, the writer runs a passive
// checkpoint on its own connection, which has only the frames committed since
// the checkpointer's pass left to copy; its next transaction then starts the
// WAL again from the beginning (unless a reader still uses the old frames; it
// asks again later), and journal_size_limit trims the file.
const (
	checkpointEvery    = 100
	checkpointInterval = time.Second
	walRestartFrames   = 4096 // 16 MiB of 4 KiB pages
)

// checkpointer runs passive checkpoints until the store closes.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		case <-s.ckptKick:
		}
		var busy, frames, copied int
		if err := s.cdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			s.log.Warn("sqlite checkpoint failed", "err", err)
			continue
		}
		if frames > walRestartFrames {
			s.walRewind.Store(true)
		}
	}
}

// finishCheckpoint is the writer's part of a checkpoint (see walRestartFrames):
// run between transactions when the checkpointer asked for it.
func (s *Store) finishCheckpoint() {
	if !s.walRewind.CompareAndSwap(true, false) {
		return
	}
	var busy, frames, copied int
	if err := s.wdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		s.log.Warn("sqlite checkpoint failed", "err", err)
		return
	}
	if busy == 0 && copied == frames {
		s.walRewinds.Add(1)
	}
}

// Times are stored as Unix microseconds in UTC; the zero time as NULL.

func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func goTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
