"""Grading, the course's way: ``metrics`` (course PSNR on uint8, SSIM, folders graded like the course's
script), ``classical`` (Wiener and Richardson-Lucy told the kernel), ``methods`` (every method behind one
interface: doing nothing, classical, learned, learned given one sigma), ``frame_sets`` (what they are
graded on) and ``grading`` (the one loop: any methods on any frame sets, rows of one shape)."""
