package bench

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// drain holds the reader side of the floor measurement.
type drain struct {
	epfd  int
	fds   []int
	carry map[int][]byte // bytes of a frame split across reads
}

func newDrain(addr string, conns int) (*drain, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench: floor reader: %w", err)
	}
	d := &drain{epfd: epfd, carry: map[int][]byte{}}
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("bench: floor reader: connection %d: %w", i, err)
		}
		fd, err := dupFD(c.(*net.TCPConn))
		if err != nil {
			d.close()
			return nil, err
		}
		unix.SetNonblock(fd, true)
		d.fds = append(d.fds, fd)
		unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	return d, nil
}

func (d *drain) close() {
	for _, fd := range d.fds {
		unix.Close(fd)
	}
	unix.Close(d.epfd)
}

// collect reads until want frames of size bytes have arrived in all.
func (d *drain) collect(ctx context.Context, want, size int) (Histogram, error) {
	var h Histogram
	events := make([]unix.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	for int(h.Total) < want {
		if ctx.Err() != nil {
			return h, fmt.Errorf("bench: floor reader: %d of %d frames: %w", h.Total, want, ctx.Err())
		}
		n, err := unix.EpollWait(d.epfd, events, 100)
		if err != nil && err != unix.EINTR {
			return h, err
		}
		for _, ev := range events[:max(n, 0)] {
			d.readFrames(int(ev.Fd), buf, size, &h)
		}
	}
	return h, nil
}

// readFrames reads what fd has and records the arrival of each whole frame.
func (d *drain) readFrames(fd int, buf []byte, size int, h *Histogram) {
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return
	}
	now := time.Now()
	data := buf[:n]
	if carry := d.carry[fd]; len(carry) > 0 {
		data = append(carry, data...)
	}
	for len(data) >= size {
		if sent, ok := sendTime(data[:size]); ok {
			h.Record(now.Sub(sent))
		}
		data = data[size:]
	}
	if len(data) > 0 {
		d.carry[fd] = append([]byte(nil), data...)
	} else {
		delete(d.carry, fd)
	}
}
