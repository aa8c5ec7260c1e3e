package shell

// A background job: `bench ... &`, `fill ... &` or `sum ... &` runs the
// command on the current disk in a goroutine of its own and prints
// `NAME: job=N started` at once; the command's own lines follow when it
// ends. Meanwhile the shell takes only the commands that change no
// disk's data or the shell's selection, so that what the job does is
// what it would do alone: irq (which switches a disk's completion mode
// with the job's requests in flight), timeout, sleep, clock, mem, help,
// and wait, which prints `wait: done job=N` once the job has ended.
// Anything else is refused, `NAME: error: job N is running (wait for
// it)`, as is a second job. exit and the end of the input wait for the
// job first.

// backgroundCommands may run as a job.
var backgroundCommands = map[string]bool{"bench": true, "fill": true, "sum": true}

// duringJob may run while a job does.
var duringJob = map[string]bool{
	"irq": true, "timeout": true, "sleep": true, "clock": true, "mem": true,
	"help": true, "wait": true, "exit": true,
}

// job is the running background job, if any.
type job struct {
	n    int
	done chan struct{}
}

// gate starts args as a job when it ends in "&", and refuses a command a
// running job excludes. It reports whether it took the line.
func (s *shell) gate(args []string) bool {
	bg := args[len(args)-1] == "&"
	if j := s.job; j != nil {
		select {
		case <-j.done: // ended; wait still reports it
		default:
			if bg || !duringJob[args[0]] {
				s.printf("%s: error: job %d is running (wait for it)", args[0], j.n)
				return true
			}
			return false
		}
	}
	if !bg {
		return false
	}
	name := args[0]
	args = args[:len(args)-1]
	if len(args) == 0 || !backgroundCommands[name] {
		s.printf("%s: error: only bench, fill and sum run in the background", name)
		return true
	}
	var run func(*shell, []string) (int, bool)
	for _, c := range commands {
		if c.name == args[0] {
			run = c.run
		}
	}
	s.jobs++
	j := &job{n: s.jobs, done: make(chan struct{})}
	s.job = j
	// The job's shell is a copy: the selection as it is now, a line
	// buffer of its own, the same output lock.
	bgShell := *s
	bgShell.line = nil
	s.printf("%s: job=%d started", args[0], j.n)
	go func() {
		defer close(j.done)
		run(&bgShell, args[1:])
	}()
	return true
}

// waitJob waits for the job last started, unless waited for already,
// and returns its number (0: none).
func (s *shell) waitJob() int {
	j := s.job
	if j == nil {
		return 0
	}
	<-j.done
	s.job = nil
	return j.n
}

func runWait(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("wait", nil)
		return 0, false
	}
	if n := s.waitJob(); n != 0 {
		s.printf("wait: done job=%d", n)
	} else {
		s.printf("wait: done job=none")
	}
	return 0, false
}
