"""Word pools the synthetic profiles are drawn from.

Profiles are assembled from these pools by hashing a user's index, so a million users cost
no memory: only the pools (a few thousand strings) are held. The pools mix ASCII and
non-ASCII names, empty and filled bios, and URLs, so clients meet realistic text.
"""

from __future__ import annotations

# fmt: off
FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Alan", "Amara", "Ana", "Anders", "Aiko", "Alejandro", "Amir", "Ayesha", "Bea",
    "Ben", "Bjørn", "Bruno", "Camille", "Carlos", "Chen", "Chloé", "Chidi", "Dana", "Daniel",
    "Dmitri", "Elena", "Emeka", "Emma", "Eva", "Farah", "Felix", "Fatima", "Gabriel", "Grace",
    "Hana", "Hannah", "Hugo", "Ines", "Ivan", "Jack", "Jamal", "Jana", "Javier", "Jin",
    "José", "Julia", "Kai", "Kemal", "Kenji", "Kofi", "Lars", "Laura", "Leila", "Li",
    "Lucas", "Lucía", "Maya", "Marco", "María", "Mateo", "Mei", "Mia", "Mohammed", "Nadia",
    "Naomi", "Nia", "Nils", "Noah", "Olga", "Omar", "Oscar", "Paula", "Pedro", "Priya",
    "Quinn", "Rafael", "Rania", "Ravi", "Rosa", "Sam", "Sara", "Sven", "Sofia", "Tariq",
    "Theo", "Tomás", "Uma", "Valentina", "Vikram", "Wei", "Wren", "Yara", "Yusuf", "Zoë",
    "Zainab", "Zhang", "Élodie", "Øystein", "Ngozi", "Thandiwe", "Sione", "Aroha", "Kalani", "Ilse",
)

LAST_NAMES: tuple[str, ...] = (
    "Abe", "Adeyemi", "Ahmed", "Almeida", "Andersen", "Bauer", "Bianchi", "Brown", "Castro",
    "Chen", "Costa", "Cruz", "Dubois", "Díaz", "Eriksson", "Fernández", "Fischer", "García",
    "Gómez", "Gupta", "Haddad", "Hansen", "Hernández", "Hoffmann", "Ibrahim", "Ito", "Jansen",
    "Jensen", "Johnson", "Kaur", "Khan", "Kim", "Kowalski", "Kumar", "Larsen", "Laurent",
    "Lee", "Li", "López", "Martin", "Martínez", "Mensah", "Meyer", "Moreau", "Müller", "Nakamura",
    "Nguyen", "Nielsen", "Novak", "Okafor", "Oliveira", "Osei", "Park", "Patel", "Pereira",
    "Petrov", "Popescu", "Rossi", "Ruiz", "Sánchez", "Santos", "Sato", "Schmidt", "Silva",
    "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Thomas", "Torres", "Wagner", "Wang",
    "Weber", "Williams", "Wilson", "Wong", "Yamamoto", "Yilmaz", "Zhang", "Zhou", "Ødegaard",
    "Çelik", "Åberg", "O'Brien", "van Dijk", "de Souza", "Nwosu", "Mbeki", "Tran", "Vu",
)

# Letters only: a username is a prefix followed by the user's index in decimal, so the
# index can be read back from the trailing digits and no two users share a username.
USERNAME_PREFIXES: tuple[str, ...] = (
    "ada", "alan", "amara", "ana", "anders", "aiko", "ale", "amir", "ayesha", "bea", "ben",
    "bjorn", "bruno", "camille", "carlos", "chen", "chloe", "chidi", "dana", "dan", "dmitri",
    "elena", "emeka", "emma", "eva", "farah", "felix", "fatima", "gabe", "grace", "hana",
    "hannah", "hugo", "ines", "ivan", "jack", "jamal", "jana", "javi", "jin", "jose", "julia",
    "kai", "kemal", "kenji", "kofi", "lars", "laura", "leila", "li", "lucas", "lucia", "maya",
    "marco", "maria", "mateo", "mei", "mia", "mo", "nadia", "naomi", "nia", "nils", "noah",
    "olga", "omar", "oscar", "paula", "pedro", "priya", "quinn", "rafa", "rania", "ravi",
    "rosa", "sam", "sara", "sven", "sofia", "tariq", "theo", "tomas", "uma", "vale", "vikram",
    "wei", "wren", "yara", "yusuf", "zoe", "the", "real", "its", "iam", "dev", "data", "hey",
    "Mr", "Ms", "Dr", "DJ", "Team", "Official", "News", "Daily", "Cafe", "Studio", "Club",
    "Maker", "Coder", "Pixel", "Byte", "Loop", "Wave", "Lumen", "Nova", "Orbit", "Echo",
)

LOCATIONS: tuple[str, ...] = (
    "", "", "", "", "Berlin, Germany", "Lagos, Nigeria", "São Paulo, Brasil", "Tokyo", "東京都",
    "London", "New York, NY", "San Francisco, CA", "Paris, France", "Madrid", "Ciudad de México",
    "Toronto, Ontario", "Sydney, Australia", "Mumbai, India", "Bengaluru", "Seoul, South Korea",
    "Nairobi, Kenya", "Accra, Ghana", "Cairo, Egypt", "Istanbul", "Warsaw, Poland", "Kyiv",
    "Stockholm, Sweden", "Oslo", "Copenhagen", "Amsterdam", "Brussels", "Zürich", "Wien",
    "Milano, Italia", "Lisboa, Portugal", "Buenos Aires", "Santiago, Chile", "Lima, Perú",
    "Bogotá, Colombia", "Austin, TX", "Chicago, IL", "Seattle, WA", "Boston, MA", "Denver, CO",
    "Vancouver, BC", "Auckland, NZ", "Singapore", "Jakarta", "Manila", "Hà Nội", "Bangkok",
    "Dubai, UAE", "Tel Aviv", "Johannesburg", "Cape Town", "Dublin, Ireland", "Edinburgh",
    "Helsinki", "Reykjavík", "Earth", "the internet", "somewhere on a train", "🌍",
)

BIO_HEADS: tuple[str, ...] = (
    "", "", "", "Software engineer", "Data nerd", "Coffee first", "Product designer",
    "Writer & reader", "Photographer", "Runner", "Teacher", "PhD student", "Open source maintainer",
    "Founder", "Nurse", "Chef", "Musician", "Gardener", "Climber", "Cyclist", "Journalist",
    "Researcher", "Game developer", "Illustrator", "Podcaster", "Engineer at a startup",
    "Dad of two", "Mum of three", "Bookworm", "Amateur astronomer", "Ex-physicist",
)

BIO_TAILS: tuple[str, ...] = (
    "", "", " Views are my own.", " #python #data", " Building things on the web.", " 🌱",
    " Opinions mine.", " he/him", " she/her", " they/them", " Tweets about #opensource.",
    " Always learning.", " Currently at @followflow_hq.", " 📷 + ☕", " Making maps.",
    " Bad puns ahead.", " Not a bot.", " Ask me about #DuckDB.", " Slow runner, fast typer.",
)

LINK_HOSTS: tuple[str, ...] = (
    "example.com", "blog.example.org", "github.com", "medium.com", "substack.com",
    "linktr.ee", "my.site", "portfolio.dev", "about.me", "youtube.com",
)

TWEET_TEXTS: tuple[str, ...] = (
    "Just setting up my account.",
    "New blog post is up, link in bio!",
    "Pinned: what I work on and why. A thread 🧵",
    "Hiring! DM me if you love data pipelines.",
    "Tickets for the show are out now 🎶",
    "Grateful for this community. Thank you all ❤️",
    "If you only read one thing today, read this.",
    "Our new release is live: faster, smaller, friendlier.",
    "Ten years on this site today. Wild.",
    "Photos from the weekend trip 📷",
)

VERIFIED_TYPES: tuple[str, ...] = ("blue", "business", "government")
# fmt: on
