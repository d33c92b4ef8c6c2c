"""Check digits that tell a real number from a run of digits: My Number's and Luhn's.

Pure functions, so that an identifier recognizer counts only numbers that could have been
issued, and a test can prove the formulas on numbers worked out by hand.
"""

from __future__ import annotations

MY_NUMBER_DIGITS = 12


def my_number_check_digit(first_eleven: str) -> int:
    """The check digit of a My Number (個人番号) from its first 11 digits.

    The formula of the My Number Act's enforcement order (施行令 第8条): with P(n) the n-th
    digit counted from the right of the 11 digits and Q(n) = n + 1 for n <= 6, n - 5 for
    n >= 7, the remainder r = sum(P(n) * Q(n)) mod 11 gives 0 when r <= 1, else 11 - r.
    """
    if len(first_eleven) != MY_NUMBER_DIGITS - 1 or not first_eleven.isascii():
        raise ValueError("a My Number has 11 digits before its check digit")
    if not first_eleven.isdigit():
        raise ValueError("a My Number has digits only")
    total = 0
    for n, digit in enumerate(reversed(first_eleven), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(digit) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(digits: str) -> bool:
    """Whether 12 ASCII digits carry a valid My Number check digit."""
    if len(digits) != MY_NUMBER_DIGITS or not (digits.isascii() and digits.isdigit()):
        return False
    return my_number_check_digit(digits[:-1]) == int(digits[-1])


def luhn_valid(digits: str) -> bool:
    """Whether ASCII digits pass the Luhn check (ISO/IEC 7812 card numbers)."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
