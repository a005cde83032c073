/* The smallest program to exec: the B1 target (built static so exec cost is the kernel's). */
int main(void)
{
	return 0;
}
